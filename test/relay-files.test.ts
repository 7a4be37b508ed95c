/**
 * Files through the other relays: a stock Mosquitto 2.x started from the shipped configs
 * (broker/mosquitto/ratchetd.conf: a password per user id and the pattern ACL) and two `ratchetd
 * broker` nodes sharing one Redis (redis-server on a free port), with daemons on their production
 * parts (LevelDB store, mqtt.js client). A 2 MiB file arrives once, verified, and downloads
 * byte-identical: on Mosquitto while the recipient is offline at the send (the descriptor waits in
 * its Mosquitto queue, the chunks follow its return); on the cluster from a sender on node A to a
 * recipient on node B, with a per-recipient queue limit (maxQueuedPerClient) above the sender's
 * window, which is all a file needs of it.
 */
import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createBroker } from '../broker/index.ts';
import { tempDir } from '../broker/test-support.ts';
import { FILE_CHUNK_ENVELOPE_BYTES } from '../core/file/chunk-envelope.ts';
import { DEFAULT_FILE_OPTIONS } from '../daemon/engine/files/file-options.ts';
import type { InboundMessage } from '../daemon/engine/types.ts';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startMosquitto, SHIPPED_DIR } from './fixtures/mosquitto-process.ts';
import { startRedis } from './fixtures/redis-process.ts';
import { brokerConnected, type RelayDaemon } from './fixtures/relay-daemons.ts';
import { relayTestScope } from './fixtures/relay-test-scope.ts';

const FILE_BYTES = 2 * 1024 * 1024 + 4099;

const scope = await relayTestScope();
const { crypto } = scope;

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const fileMessages = (d: RelayDaemon): InboundMessage[] => d.log.messages().filter((m) => m.attachment !== undefined);

/** alice sends `data` to bob, in two pieces as a client stream would; resolves once it is in her outbox. */
async function sendFile(alice: RelayDaemon, bob: RelayDaemon, data: Buffer): Promise<{ messageId: string }> {
  const backend = alice.daemon.backend;
  if (backend.sendFile === undefined) throw new Error('the engine serves files');
  async function* pieces(): AsyncGenerator<Uint8Array> {
    yield data.subarray(0, 1_000_000);
    yield data.subarray(1_000_000);
  }
  return backend.sendFile({ to: bob.userId, fileName: 'firmware.bin', contentType: 'application/octet-stream', size: data.length }, pieces());
}

async function downloaded(bob: RelayDaemon, attachmentId: string): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const p of bob.daemon.backend.downloadAttachment?.(attachmentId, 0) ?? []) parts.push(p);
  return Buffer.concat(parts);
}

async function arrivedOnce(bob: RelayDaemon, messageId: string, data: Buffer): Promise<void> {
  await bob.log.until((l) => l.messages().some((m) => m.attachment !== undefined), 'the file message', 120_000);
  const files = fileMessages(bob);
  expect(files.map((m) => m.messageId)).toEqual([messageId]);
  expect(files[0]?.attachment).toMatchObject({ fileName: 'firmware.bin', size: data.length });
  expect(Buffer.from(files[0]?.attachment?.sha256 ?? new Uint8Array()).toString('hex')).toBe(sha256(data));
  expect(sha256(await downloaded(bob, files[0]?.attachment?.attachmentId ?? ''))).toBe(sha256(data));
}

describe('files through Mosquitto', () => {
  it('the shipped configs need no change: a chunk envelope is within max_packet_size, a window within max_queued_messages', async () => {
    const conf = await readFile(join(SHIPPED_DIR, 'ratchetd.conf'), 'utf8');
    const setting = (name: string): number => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(conf)?.[1]);
    // an MQTT PUBLISH of a chunk: the envelope plus its topic and a few header bytes
    expect(FILE_CHUNK_ENVELOPE_BYTES + 256).toBeLessThan(setting('max_packet_size'));
    expect(DEFAULT_FILE_OPTIONS.windowChunks).toBeLessThan(setting('max_queued_messages'));
    expect(setting('max_queued_bytes')).toBe(0);
  });

  it('password + ACL (ratchetd.conf): a 2 MiB file sent while the recipient is offline arrives once, verified, byte-identical', async () => {
    const daemons = scope.daemons;
    const m = await startMosquitto({ config: 'password', dir: await daemons.tempDir('mosquitto') });
    scope.defer(() => m.stop());
    const provisioned = async (dataDir?: string, password = randomBytes(24).toString('base64url')): Promise<RelayDaemon & { password: string }> => {
      const d = await daemons.start({ brokerUrl: m.url, relayAuth: { password }, timing: { connectWaitMs: 50 }, ...(dataDir === undefined ? {} : { dataDir }) });
      await m.addUser({ username: d.userId, password });
      await brokerConnected(d);
      return Object.assign(d, { password });
    };
    const alice = await provisioned();
    const bob = await provisioned();
    // bob's inbox subscription exists (his session is persistent); then he goes away
    await alice.daemon.backend.send({ to: bob.userId, body: new TextEncoder().encode('hello') });
    await bob.log.until((l) => l.texts(alice.userId).includes('hello'), 'the first message');
    await daemons.stop(bob);
    const data = randomFillSync(Buffer.alloc(FILE_BYTES));
    const { messageId } = await sendFile(alice, bob, data);
    const back = await provisioned(bob.dataDir, bob.password);
    await arrivedOnce(back, messageId, data);
  }, 180_000);
});

describe('files through the Redis-backed cluster', () => {
  it('alice on node A, bob on node B (maxQueuedPerClient above the window): a 2 MiB file arrives once, verified, byte-identical', async () => {
    const tmp = await tempDir('redis');
    const redis = await startRedis(tmp.dir);
    scope.defer(tmp.remove, () => redis.stop());
    const limits = { maxQueuedPerClient: 4 * DEFAULT_FILE_OPTIONS.windowChunks };
    const nodes = [createBroker({ redisUrl: redis.url, crypto, ...limits }), createBroker({ redisUrl: redis.url, crypto, ...limits })];
    for (const n of nodes) scope.defer(() => n.close());
    const [a, b] = await Promise.all(nodes.map((n) => n.start()));
    const alice = await scope.daemons.start({ brokerUrl: a?.url ?? '' });
    const bob = await scope.daemons.start({ brokerUrl: b?.url ?? '' });
    await alice.daemon.backend.send({ to: bob.userId, body: new TextEncoder().encode('hello across nodes') });
    await bob.log.until((l) => l.texts(alice.userId).includes('hello across nodes'), 'the first message', 30_000);
    const data = randomFillSync(Buffer.alloc(FILE_BYTES));
    const { messageId } = await sendFile(alice, bob, data);
    await arrivedOnce(bob, messageId, data);
  }, 180_000);
});
