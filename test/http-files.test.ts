/**
 * Files over the HTTP API on real processes: `ratchetd broker` and `ratchetd daemon --http` from
 * bin/ratchetd.mjs on free ports in temp dirs, driven with fetch as curl would. A file streamed in
 * with POST /v1/files arrives as a message with its attachment and downloads byte-identical (from
 * an offset too); the ack deletes it unless --retain-attachments (here from its RATCHETD_
 * variable); the webhook's POST carries the attachment and its receiver downloads it before its
 * 2xx; a tiny --file-quota refuses a file with FileQuotaExceeded over HTTP (429) and `ctl
 * send-file` alike, and a file within it still goes; a 96 MiB upload leaves the daemon's peak RSS
 * within 64 MiB of its idle RSS (the body is streamed, not buffered).
 */
import { createHash, randomFillSync } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { processParties } from './fixtures/process-parties.ts';
import { runCli } from '../daemon/cli/spawn-cli.ts';
import { verifyWebhookSignature } from '../daemon/http/webhook-signature.ts';

const { tempDir, spawn, closeAfterTest } = processParties('http-files');

interface Daemon {
  pid: number;
  userId: string;
  url: string;
  token: string;
  dir: string;
  socket: string;
  json(method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }>;
  upload(query: string, path: string): Promise<{ status: number; json: Record<string, unknown> }>;
  download(path: string, headers?: Record<string, string>): Promise<{ status: number; bytes: Buffer; headers: Headers }>;
}

async function startDaemon(root: string, name: string, brokerUrl: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<Daemon> {
  const dir = join(root, name);
  const socket = join(dir, 'api.sock');
  const proc = await spawn(['daemon', '--data', dir, '--broker', brokerUrl, '--socket', socket, '--http', '127.0.0.1:0', ...extra], name, env);
  const url = String(proc.ready['http']);
  const token = (await readFile(join(dir, 'http.token'), 'utf8')).trim();
  const auth = { authorization: `Bearer ${token}` };
  return {
    pid: proc.pid,
    userId: String(proc.ready['userId']),
    url,
    token,
    dir,
    socket,
    async json(method, path, body) {
      const res = await fetch(url + path, { method, headers: { ...auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
      const text = await res.text();
      return { status: res.status, json: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
    },
    async upload(query, path) {
      // streamed from the file (curl --data-binary @F / -T F does the same)
      const body = Readable.toWeb(createReadStream(path, { highWaterMark: 64 * 1024 }));
      const res = await fetch(`${url}/v1/files?${query}`, { method: 'POST', headers: { ...auth, 'content-type': 'application/octet-stream' }, body, duplex: 'half' } as RequestInit);
      return { status: res.status, json: (await res.json()) as Record<string, unknown> };
    },
    async download(path, headers = {}) {
      const res = await fetch(url + path, { headers: { ...auth, ...headers } });
      return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()), headers: res.headers };
    },
  };
}

async function startBroker(root: string): Promise<string> {
  const broker = await spawn(['broker', '--port', '0', '--data', join(root, 'broker')], 'broker');
  return String(broker.ready['mqtt']);
}

interface Attachment {
  attachmentId: string;
  fileName: string;
  contentType: string;
  size: number;
  sha256: string;
}

/** Long-polls until a message with an attachment is there. */
async function fileMessage(d: Daemon): Promise<{ messageId: string; attachment: Attachment }> {
  for (;;) {
    const r = await d.json('GET', '/v1/messages?wait=60');
    const found = (r.json['messages'] as Array<{ messageId: string; attachment?: Attachment }> | undefined)?.find((m) => m.attachment !== undefined);
    if (found !== undefined) return found as { messageId: string; attachment: Attachment };
  }
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Peak and current resident set size of a process (MiB), from /proc. */
function rss(pid: number): { peak: number; now: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => Number(/(\d+) kB/.exec(status.split('\n').find((l) => l.startsWith(field)) ?? '')?.[1] ?? NaN);
  return { peak: kb('VmHWM:') / 1024, now: kb('VmRSS:') / 1024 };
}

async function randomFile(dir: string, name: string, size: number): Promise<{ path: string; data: Buffer }> {
  const data = randomFillSync(Buffer.alloc(size));
  const path = join(dir, name);
  await writeFile(path, data);
  return { path, data };
}

describe('files over the HTTP API (real processes)', () => {
  it('POST /v1/files → the message with its attachment → GET /v1/attachments/{id} byte-identical, ?offset= and a Range resume; the ack deletes it', async () => {
    const root = await tempDir();
    const brokerUrl = await startBroker(root);
    // the window and timeout flags as an operator sets them (a flag on one, variables on the other)
    const [alice, bob] = await Promise.all([
      startDaemon(root, 'alice', brokerUrl, ['--file-window', '16', '--file-incomplete-timeout', '2h']),
      startDaemon(root, 'bob', brokerUrl, [], { RATCHETD_FILE_WINDOW: '16', RATCHETD_FILE_INCOMPLETE_TIMEOUT: '2h' }),
    ]);
    const { path, data } = await randomFile(root, 'build.tar.gz', 2 * 1024 * 1024 + 333);
    const sent = await alice.upload(`to=${bob.userId}&fileName=build.tar.gz&contentType=application%2Fgzip`, path);
    expect(sent.status).toBe(200);
    expect(sent.json['messageId']).toMatch(/^[0-9a-f]{32}$/);

    const m = await fileMessage(bob);
    expect(m.messageId).toBe(sent.json['messageId']);
    expect(m.attachment).toEqual({ attachmentId: sent.json['attachmentId'], fileName: 'build.tar.gz', contentType: 'application/gzip', size: data.length, sha256: sha256(data) });
    const whole = await bob.download(`/v1/attachments/${m.attachment.attachmentId}`);
    expect(whole.status).toBe(200);
    expect(whole.bytes.equals(data)).toBe(true);
    const rest = await bob.download(`/v1/attachments/${m.attachment.attachmentId}?offset=1000001`);
    expect(rest.bytes.equals(data.subarray(1000001))).toBe(true);
    // curl -C - (a Range from what it has), and a slice from the middle: 206, exactly those bytes
    const etag = whole.headers.get('etag') ?? '';
    expect([etag, whole.headers.get('content-length')]).toEqual([`"${sha256(data)}"`, String(data.length)]);
    const resumed = await bob.download(`/v1/attachments/${m.attachment.attachmentId}`, { range: 'bytes=1000001-', 'if-range': etag });
    expect([resumed.status, resumed.headers.get('content-range'), resumed.bytes.equals(data.subarray(1000001))]).toEqual([206, `bytes 1000001-${data.length - 1}/${data.length}`, true]);
    const slice = await bob.download(`/v1/attachments/${m.attachment.attachmentId}`, { range: 'bytes=65530-131080' });
    expect([slice.status, slice.bytes.equals(data.subarray(65530, 131081))]).toEqual([206, true]);

    expect((await bob.json('POST', '/v1/ack', { messageIds: [m.messageId] })).status).toBe(200);
    const gone = await bob.download(`/v1/attachments/${m.attachment.attachmentId}`);
    expect([gone.status, JSON.parse(gone.bytes.toString()).errorCode]).toEqual([404, 'AttachmentNotFound']);
  });

  it('with a webhook: its POST carries the attachment, the receiver downloads it before its 2xx; RATCHETD_RETAIN_ATTACHMENTS keeps it after that ack', async () => {
    const root = await tempDir();
    const brokerUrl = await startBroker(root);
    const secretFile = join(root, 'webhook.secret');
    await writeFile(secretFile, 'files-webhook-secret-0123456789\n', { mode: 0o600 });
    let bob: Daemon | undefined;
    const hooks: Array<{ attachment?: Attachment; downloaded?: Buffer; valid: boolean }> = [];
    let answered: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (answered = resolve));
    const server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (c: string) => (body += c));
      req.on('end', () => {
        void (async () => {
          const message = JSON.parse(body) as { attachment?: Attachment };
          const valid = verifyWebhookSignature(Buffer.from('files-webhook-secret-0123456789'), req.headers['ratchetd-signature'] as string | undefined, req.headers['ratchetd-timestamp'] as string | undefined, body, { nowSeconds: Date.now() / 1000 });
          const downloaded = message.attachment === undefined || bob === undefined ? undefined : (await bob.download(`/v1/attachments/${message.attachment.attachmentId}`)).bytes;
          hooks.push({ ...(message.attachment === undefined ? {} : { attachment: message.attachment }), ...(downloaded === undefined ? {} : { downloaded }), valid });
          res.writeHead(200).end();
          answered();
        })();
      });
    });
    closeAfterTest(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const hookUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`;
    const alice = await startDaemon(root, 'alice', brokerUrl);
    bob = await startDaemon(root, 'bob', brokerUrl, ['--webhook', hookUrl, '--webhook-secret-file', secretFile], { RATCHETD_RETAIN_ATTACHMENTS: '1' });
    const { path, data } = await randomFile(root, 'photo.jpg', 300_000);
    expect((await alice.upload(`to=${bob.userId}&fileName=photo.jpg&contentType=image%2Fjpeg`, path)).status).toBe(200);
    await done;
    const [hook] = hooks;
    expect(hook?.valid).toBe(true);
    expect(hook?.attachment).toMatchObject({ fileName: 'photo.jpg', contentType: 'image/jpeg', size: data.length, sha256: sha256(data) });
    expect(hook?.downloaded?.equals(data)).toBe(true);
    // acked by the webhook's 2xx, and still there (retained)
    for (;;) {
      const status = await bob.json('GET', '/v1/status');
      if (status.json['inboxDepth'] === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const again = await bob.download(`/v1/attachments/${hook?.attachment?.attachmentId ?? ''}`);
    expect([again.status, again.bytes.equals(data)]).toEqual([200, true]);
  });

  it('a tiny --file-quota refuses a file with FileQuotaExceeded: HTTP 429 and ctl send-file alike; a file within it still goes', async () => {
    const root = await tempDir();
    const brokerUrl = await startBroker(root);
    const [alice, bob] = await Promise.all([startDaemon(root, 'alice', brokerUrl, ['--file-quota', '256K']), startDaemon(root, 'bob', brokerUrl)]);
    const big = await randomFile(root, 'big.bin', 1024 * 1024);
    const refused = await alice.upload(`to=${bob.userId}&fileName=big.bin`, big.path);
    expect(refused).toMatchObject({ status: 429, json: { code: 'RESOURCE_EXHAUSTED', errorCode: 'FileQuotaExceeded' } });
    expect(String(refused.json['message'])).toContain('the files quota (262144 bytes) would be exceeded');
    const cli = await runCli(['ctl', '--socket', alice.socket, 'send-file', bob.userId, big.path]);
    expect(cli.code).not.toBe(0);
    expect(cli.stderr).toMatch(/RESOURCE_EXHAUSTED/);
    expect(cli.stderr).toMatch(/files quota \(262144 bytes\)/);
    // nothing of the refused files is kept: a file within the quota goes, and arrives
    const small = await randomFile(root, 'small.bin', 100_000);
    const ok = await alice.upload(`to=${bob.userId}&fileName=small.bin`, small.path);
    expect(ok.status).toBe(200);
    const m = await fileMessage(bob);
    expect(m.attachment).toMatchObject({ fileName: 'small.bin', size: small.data.length, sha256: sha256(small.data) });
  });

  it('a 96 MiB upload is streamed into the engine, not buffered: the daemon\'s peak RSS stays within 64 MiB of its idle RSS', async () => {
    const root = await tempDir();
    const brokerUrl = await startBroker(root);
    const [alice, bob] = await Promise.all([startDaemon(root, 'alice', brokerUrl), startDaemon(root, 'bob', brokerUrl)]);
    // a first file sets up the session and warms the upload path
    const warm = await randomFile(root, 'warm.bin', 100_000);
    expect((await alice.upload(`to=${bob.userId}&fileName=warm.bin`, warm.path)).status).toBe(200);
    const idle = rss(alice.pid).now;
    const big = await randomFile(root, 'big.bin', 96 * 1024 * 1024);
    expect((await alice.upload(`to=${bob.userId}&fileName=big.bin`, big.path)).status).toBe(200);
    const peak = rss(alice.pid).peak;
    console.log(JSON.stringify({ test: 'http-files upload', mib: 96, idleRssMib: idle, peakRssMib: peak }));
    expect(peak).toBeLessThanOrEqual(idle + 64);
  }, 180_000);
});
