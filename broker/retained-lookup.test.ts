/**
 * Exact-topic retained lookups (bundle fetches) on the LevelDB persistence read one record instead of
 * scanning every retained message (aedes-persistence-level scanned them all: 674 ms per fetch at
 * 10,000 users); they return what the persistence stored (level-persistence.ts).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import pino from 'pino';
import { openPersistence, type OpenedPersistence } from './persistence.ts';
import { resolveBrokerConfig } from './config.ts';

interface Retained {
  storeRetained(packet: object): Promise<void>;
  createRetainedStream(pattern: string): Readable;
  createRetainedStreamCombi(patterns: string[]): Readable;
}

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

async function openLevel(): Promise<{ opened: OpenedPersistence; retained: Retained; scans: () => number }> {
  const dir = await mkdtemp(join(tmpdir(), 'ratchetd-retained-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const opened = await openPersistence(resolveBrokerConfig({ dataDir: dir, logger: pino({ level: 'silent' }) }));
  cleanups.push(() => opened.close());
  // Count range reads (aedes-persistence-level read every retained record through db.values()).
  const db = opened.db!;
  let scans = 0;
  for (const method of ['values', 'iterator', 'keys'] as const) {
    const original = (db[method] as (...args: unknown[]) => unknown).bind(db);
    (db as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
      scans++;
      return original(...args);
    };
  }
  return { opened, retained: opened.persistence as unknown as Retained, scans: () => scans };
}

function packet(topic: string, payload: Buffer) {
  return { cmd: 'publish', topic, payload, qos: 1, retain: true, dup: false, brokerId: 'b', brokerCounter: 1, messageId: 7 };
}

async function collect(stream: Readable): Promise<Array<{ topic: string; payload: Buffer; retain: boolean; qos: number }>> {
  const out = [];
  for await (const p of stream) out.push(p);
  return out;
}

describe('retained lookups on LevelDB', () => {
  it('an exact topic is one get among 2,000 retained bundles, with the stored packet; deleted and unknown topics give nothing', async () => {
    const { retained, scans } = await openLevel();
    for (let i = 0; i < 2000; i++) await retained.storeRetained(packet(`ratchetd/v1/bundle/user${i}`, Buffer.alloc(64, i % 256)));
    await retained.storeRetained(packet('ratchetd/v1/bundle/é-ünïcode', Buffer.from('u')));
    await retained.storeRetained(packet('ratchetd/v1/bundle/user5', Buffer.alloc(0))); // an empty retained payload deletes

    const got = await collect(retained.createRetainedStream('ratchetd/v1/bundle/user1234'));
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ topic: 'ratchetd/v1/bundle/user1234', retain: true, qos: 1 });
    expect(Buffer.from(got[0]!.payload)).toEqual(Buffer.alloc(64, 1234 % 256));
    expect((await collect(retained.createRetainedStream('ratchetd/v1/bundle/é-ünïcode'))).map((p) => p.topic)).toEqual(['ratchetd/v1/bundle/é-ünïcode']);
    expect(await collect(retained.createRetainedStream('ratchetd/v1/bundle/user5'))).toEqual([]);
    expect(await collect(retained.createRetainedStream('ratchetd/v1/bundle/nobody'))).toEqual([]);
    expect((await collect(retained.createRetainedStreamCombi(['ratchetd/v1/bundle/user1', 'ratchetd/v1/bundle/user2', 'ratchetd/v1/bundle/user1']))).map((p) => p.topic)).toEqual([
      'ratchetd/v1/bundle/user1',
      'ratchetd/v1/bundle/user2',
    ]);
    expect(scans()).toBe(0);
  });

  it('wildcard patterns still scan, without repeating a topic an exact pattern already gave', async () => {
    const { retained, scans } = await openLevel();
    for (const t of ['a/1', 'a/2', 'b/1']) await retained.storeRetained(packet(t, Buffer.from(t)));
    expect((await collect(retained.createRetainedStream('a/+'))).map((p) => p.topic).sort()).toEqual(['a/1', 'a/2']);
    expect((await collect(retained.createRetainedStreamCombi(['a/1', 'a/#']))).map((p) => p.topic).sort()).toEqual(['a/1', 'a/2']);
    expect(scans()).toBeGreaterThan(0);
  });
});
