/**
 * Files over the HTTP API through real HTTP (fetch and node:http against the server on a free
 * port), over an in-memory backend that serves files: the upload is streamed into the backend in
 * pieces, the download is the same bytes (from an offset too), messages carry `attachment`, and
 * every refusal — token, unknown attachment, malformed parameters, over quota, too large — is the
 * JSON error of the gRPC code, with nothing stored.
 */
import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_FILE_BYTES } from '../../core/file/format.ts';
import { FileTransferError } from '../engine/files/file-errors.ts';
import { FileFakeBackend } from './test-file-backend.ts';
import { openSse, startTestHttp, TOKEN, type TestHttp } from './test-support.ts';

let http: TestHttp<FileFakeBackend>;
beforeEach(async () => {
  http = await startTestHttp({ backend: new FileFakeBackend() });
});
afterEach(async () => {
  await http.close();
});

const auth = { authorization: `Bearer ${TOKEN}` };
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** A body that arrives in `pieces` parts, each sent only when fetch asks for it (a streamed upload). */
function streamed(data: Buffer, pieces: number): ReadableStream<Uint8Array> {
  const size = Math.ceil(data.length / pieces);
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= data.length) return controller.close();
      controller.enqueue(new Uint8Array(data.subarray(at, at + size)));
      at += size;
    },
  });
}

async function upload(query: string, body: Uint8Array | ReadableStream<Uint8Array>, headers: Record<string, string> = {}): Promise<{ status: number; json: Record<string, unknown>; connection: string | null }> {
  const res = await fetch(`${http.url}/v1/files?${query}`, { method: 'POST', headers: { ...auth, 'content-type': 'application/octet-stream', ...headers }, body, duplex: 'half' } as RequestInit);
  return { status: res.status, json: (await res.json()) as Record<string, unknown>, connection: res.headers.get('connection') };
}

async function download(path: string, headers: Record<string, string> = auth): Promise<{ status: number; type: string | null; ranges: string | null; bytes: Buffer }> {
  const res = await fetch(http.url + path, { headers });
  return { status: res.status, type: res.headers.get('content-type'), ranges: res.headers.get('accept-ranges'), bytes: Buffer.from(await res.arrayBuffer()) };
}

/** A POST whose Content-Length header says `length` while only `send` bytes are written (node:http lets a test say so). */
function rawPost(path: string, length: number, send: Buffer): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${http.url}${path}`, { method: 'POST', headers: { ...auth, 'content-type': 'application/octet-stream', 'content-length': String(length) } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c));
      res.on('end', () => {
        req.destroy();
        resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as Record<string, unknown> });
      });
    });
    req.on('error', reject);
    req.write(send);
  });
}

describe('POST /v1/files', () => {
  it('streams the body into the engine piece by piece and answers {messageId, attachmentId}', async () => {
    const peer = http.backend.addPeer();
    const data = randomBytes(3 * 1024 * 1024 + 5);
    const r = await upload(`to=${peer}&fileName=${encodeURIComponent('report 1.bin')}&contentType=application%2Fpdf&size=${data.length}`, streamed(data, 48));
    expect(r.status).toBe(200);
    const [sent] = http.backend.sentFiles;
    expect(r.json).toEqual({ messageId: sent?.messageId, attachmentId: sent?.attachmentId });
    expect(sent?.header).toEqual({ to: peer, fileName: 'report 1.bin', contentType: 'application/pdf', size: data.length });
    expect(sha256(sent?.bytes ?? Buffer.alloc(0))).toBe(sha256(data));
    expect(sent?.pieces).toBeGreaterThan(8); // handed on as it arrived, not as one buffer
  });

  it('takes the size from Content-Length when the query gives none, and an empty content type as the default', async () => {
    const peer = http.backend.addPeer();
    const data = randomBytes(1000);
    const r = await upload(`to=${peer}&fileName=a.bin`, data, { 'content-type': 'image/png' });
    expect(r.status).toBe(200);
    expect(http.backend.sentFiles[0]?.header).toEqual({ to: peer, fileName: 'a.bin', size: 1000 });
  });

  it('passes groupId and the idempotency key (query or Idempotency-Key header) to the engine; two different keys are a 400', async () => {
    const data = randomBytes(100);
    const group = `${'g'.repeat(25)}a`;
    expect((await upload(`groupId=${group}&fileName=a.bin&idempotencyKey=k1`, data)).status).toBe(200);
    expect((await upload(`groupId=${group}&fileName=a.bin`, data, { 'idempotency-key': 'k2' })).status).toBe(200);
    expect((await upload(`groupId=${group}&fileName=a.bin&idempotencyKey=k3`, data, { 'idempotency-key': 'k3' })).status).toBe(200);
    expect(http.backend.sentFiles.map((f) => f.header)).toEqual([
      { groupId: group, fileName: 'a.bin', size: 100, idempotencyKey: 'k1' },
      { groupId: group, fileName: 'a.bin', size: 100, idempotencyKey: 'k2' },
      { groupId: group, fileName: 'a.bin', size: 100, idempotencyKey: 'k3' },
    ]);
    const r = await upload(`groupId=${group}&fileName=a.bin&idempotencyKey=k4`, data, { 'idempotency-key': 'k5' });
    expect([r.status, r.json['errorCode']]).toEqual([400, 'InvalidArgument']);
    expect(String(r.json['message'])).toMatch(/differ/);
    expect(http.backend.sentFiles).toHaveLength(3);
  });

  it('refuses malformed parameters with 400 before reading the body, and stores nothing', async () => {
    const peer = http.backend.addPeer();
    const body = randomBytes(2000);
    const cases: Array<[string, RegExp]> = [
      [`to=${peer}`, /fileName/],
      [`to=nope&fileName=a`, /to/],
      [`fileName=a`, /to/],
      [`to=${peer}&fileName=`, /file_name must have 1 to 255/],
      [`to=${peer}&fileName=${'x'.repeat(256)}`, /file_name must have 1 to 255/],
      [`to=${peer}&fileName=a%0Ab`, /control characters/],
      [`to=${peer}&fileName=a&contentType=caf%C3%A9`, /content_type must be printable ASCII/],
      [`to=${peer}&fileName=a&size=-1`, /size/],
      [`to=${peer}&fileName=a&size=1.5`, /size/],
      [`to=${peer}&fileName=a&size=${MAX_FILE_BYTES + 1}`, /size must be an integer from 0 to/],
      [`to=${peer}&fileName=a&size=1999`, /size \(1999\) and Content-Length \(2000\) differ/],
      [`to=${peer}&fileName=a&file_name=b`, /unknown field "file_name"/],
    ];
    for (const [query, message] of cases) {
      const r = await upload(query, body);
      expect([query, r.status, r.json['code'], r.json['errorCode']]).toEqual([query, 400, 'INVALID_ARGUMENT', 'InvalidArgument']);
      expect(String(r.json['message'])).toMatch(message);
    }
    expect(http.backend.sentFiles).toEqual([]);
    expect(http.backend.bytesRead).toBe(0);
  });

  it('refuses a bad or missing token with 401 without reading the body', async () => {
    const peer = http.backend.addPeer();
    for (const authorization of ['Bearer wrong-wrong-wrong-wrong', '']) {
      const res = await fetch(`${http.url}/v1/files?to=${peer}&fileName=a`, { method: 'POST', headers: authorization === '' ? {} : { authorization }, body: randomBytes(100) });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
      expect(await res.json()).toMatchObject({ code: 'UNAUTHENTICATED', errorCode: 'Unauthenticated' });
    }
    expect(http.backend.bytesRead).toBe(0);
  });

  it('over the files quota: 429 FileQuotaExceeded (RESOURCE_EXHAUSTED, as on gRPC), nothing stored, the connection still answers', async () => {
    const peer = http.backend.addPeer();
    http.backend.quotaBytes = 256 * 1024;
    const r = await upload(`to=${peer}&fileName=big.bin`, streamed(randomBytes(1024 * 1024), 16));
    expect(r).toMatchObject({ status: 429, json: { code: 'RESOURCE_EXHAUSTED', errorCode: 'FileQuotaExceeded' } });
    expect(String(r.json['message'])).toMatch(/files quota \(262144 bytes\)/);
    expect(http.backend.sentFiles).toEqual([]);
    // the refusal came while the body was still arriving: not all of it was read first
    expect(http.backend.bytesRead).toBeLessThan(1024 * 1024);
    // so that connection is not reused with the rest of that body unread
    expect(r.connection).toBe('close');
    const ok = await upload(`to=${peer}&fileName=small.bin`, randomBytes(1000));
    expect([ok.status, ok.connection]).toEqual([200, 'keep-alive']);
  });

  it('a Content-Length beyond the largest file is 413 before a byte is read', async () => {
    const peer = http.backend.addPeer();
    const r = await rawPost(`/v1/files?to=${peer}&fileName=huge.bin`, MAX_FILE_BYTES + 1, randomBytes(10));
    expect(r).toMatchObject({ status: 413, json: { code: 'RESOURCE_EXHAUSTED', errorCode: 'BodyTooLarge' } });
    expect(http.backend.bytesRead).toBe(0);
  });

  it('a body that ends before its Content-Length is not sent as a file', async () => {
    const peer = http.backend.addPeer();
    await new Promise<void>((resolve) => {
      const req = httpRequest(`${http.url}/v1/files?to=${peer}&fileName=cut.bin`, { method: 'POST', headers: { ...auth, 'content-length': '100000' } });
      req.on('error', () => resolve());
      req.write(randomBytes(5000), () => setImmediate(() => req.destroy()));
      req.on('close', () => resolve());
    });
    // the server saw the cut (the status call after it is answered: the server is fine)
    expect((await http.call('GET', '/v1/status')).status).toBe(200);
    expect(http.backend.sentFiles).toEqual([]);
  });
});

describe('GET /v1/attachments/{attachmentId}', () => {
  it('streams the same bytes; ?offset= resumes; messages, the event stream and the schema carry attachment', async () => {
    const peer = http.backend.addPeer();
    const data = randomBytes(700_001);
    const m = http.backend.deliverFile(peer, data, 'photo.jpg', 'image/jpeg');
    const attachment = { attachmentId: m.attachment?.attachmentId, fileName: 'photo.jpg', contentType: 'image/jpeg', size: data.length, sha256: sha256(data) };

    const polled = await http.call('GET', '/v1/messages');
    expect((polled.json['messages'] as Array<Record<string, unknown>>)[0]?.['attachment']).toEqual(attachment);
    const sse = await openSse(http.url, '/v1/events');
    const [event] = await sse.until((e) => e.data['type'] === 'message');
    sse.close();
    expect((event?.data['message'] as Record<string, unknown>)['attachment']).toEqual(attachment);

    const whole = await download(`/v1/attachments/${attachment.attachmentId}`);
    expect(whole.status).toBe(200);
    expect(whole.type).toBe('application/octet-stream');
    expect(whole.ranges).toBe('bytes');
    expect(whole.bytes.equals(data)).toBe(true);
    const tail = await download(`/v1/attachments/${attachment.attachmentId}?offset=123457`);
    expect(tail.bytes.equals(data.subarray(123457))).toBe(true);
    const none = await download(`/v1/attachments/${attachment.attachmentId}?offset=${data.length}`);
    expect([none.status, none.bytes.length]).toEqual([200, 0]);
  });

  it('a Range is 206 with Content-Range and exactly those bytes; If-Range with another ETag gets the whole file; past the end is 416', async () => {
    const peer = http.backend.addPeer();
    const data = randomBytes(300_000);
    const m = http.backend.deliverFile(peer, data, 'big.bin');
    const path = `/v1/attachments/${m.attachment?.attachmentId ?? ''}`;
    const get = async (headers: Record<string, string>, query = ''): Promise<{ status: number; headers: Headers; bytes: Buffer }> => {
      const res = await fetch(`${http.url}${path}${query}`, { headers: { ...auth, ...headers } });
      return { status: res.status, headers: res.headers, bytes: Buffer.from(await res.arrayBuffer()) };
    };
    const etag = `"${sha256(data)}"`;
    const whole = await get({});
    expect([whole.status, whole.headers.get('etag'), whole.headers.get('content-length')]).toEqual([200, etag, String(data.length)]);

    const middle = await get({ range: 'bytes=70000-200000' }); // across several 64 KiB pieces
    expect([middle.status, middle.headers.get('content-range'), middle.headers.get('content-length')]).toEqual([206, `bytes 70000-200000/${data.length}`, '130001']);
    expect(middle.bytes.equals(data.subarray(70000, 200001))).toBe(true);
    const resumed = await get({ range: 'bytes=123457-', 'if-range': etag });
    expect([resumed.status, resumed.bytes.equals(data.subarray(123457))]).toEqual([206, true]);
    const last = await get({ range: 'bytes=-10' });
    expect([last.status, last.bytes.equals(data.subarray(-10))]).toEqual([206, true]);

    const changed = await get({ range: 'bytes=0-9', 'if-range': '"another"' });
    expect([changed.status, changed.bytes.equals(data)]).toEqual([200, true]);
    const several = await get({ range: 'bytes=0-9,20-29' });
    expect([several.status, several.bytes.length]).toEqual([200, data.length]);

    const past = await get({ range: `bytes=${data.length}-` });
    expect([past.status, past.headers.get('content-range'), JSON.parse(past.bytes.toString())['errorCode']]).toEqual([416, `bytes */${data.length}`, 'RangeNotSatisfiable']);
    const both = await get({ range: 'bytes=0-9' }, '?offset=5');
    expect([both.status, JSON.parse(both.bytes.toString())['code']]).toEqual([400, 'INVALID_ARGUMENT']);
    expect(http.backend.downloads.map((d) => d.offset)).toEqual([0, 70000, 123457, data.length - 10, 0, 0]);
  });

  it('a failure mid-way cuts the response off: the client sees an error, never a short file that ended well', async () => {
    const peer = http.backend.addPeer();
    const m = http.backend.deliverFile(peer, randomBytes(500_000), 'a.bin');
    http.backend.failDownloadAfter = { pieces: 2, error: new FileTransferError('AttachmentNotFound', 'the stored attachment is incomplete') };
    const res = await fetch(`${http.url}/v1/attachments/${m.attachment?.attachmentId ?? ''}`, { headers: auth });
    expect(res.status).toBe(200); // the first pieces went out before the failure
    await expect(res.arrayBuffer()).rejects.toThrow();
    // and the server goes on
    http.backend.failDownloadAfter = undefined;
    expect((await download(`/v1/attachments/${m.attachment?.attachmentId ?? ''}`)).bytes.length).toBe(500_000);
  });

  it('an unknown attachment is 404; a malformed id or offset is 400; a bad token is 401', async () => {
    const peer = http.backend.addPeer();
    const m = http.backend.deliverFile(peer, randomBytes(10), 'a.bin');
    const id = m.attachment?.attachmentId ?? '';
    const json = (r: { bytes: Buffer }): Record<string, unknown> => JSON.parse(r.bytes.toString()) as Record<string, unknown>;
    const unknown = await download(`/v1/attachments/${'0'.repeat(32)}`);
    expect([unknown.status, json(unknown)['errorCode']]).toEqual([404, 'AttachmentNotFound']);
    for (const path of [`/v1/attachments/${'G'.repeat(32)}`, `/v1/attachments/abc`, `/v1/attachments/${id}?offset=-1`, `/v1/attachments/${id}?offset=x`, `/v1/attachments/${id}?offset=11`, `/v1/attachments/${id}?from=1`]) {
      const r = await download(path);
      expect([path, r.status, json(r)['code']]).toEqual([path, 400, 'INVALID_ARGUMENT']);
    }
    const denied = await download(`/v1/attachments/${id}`, { authorization: 'Bearer wrong-wrong-wrong-wrong' });
    expect([denied.status, json(denied)['errorCode']]).toEqual([401, 'Unauthenticated']);
  });
});
