import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createSodiumCrypto } from '../crypto/sodium.ts';
import { createBroker } from './broker.ts';
import { DEFAULT_MAX_PAYLOAD_BYTES, resolveBrokerConfig } from './config.ts';
import { connectAs, end, inboxTopic, newIdentity, tempDir, until } from './test-support.ts';
import { freePort } from '../test/fixtures/free-port.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

function configError(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return (e as { code?: string }).code ?? 'no code';
  }
  return 'no error';
}

describe('broker config', () => {
  it('fills defaults: loopback, free port, level in dataDir/broker, 300 KiB, no quota or TTL', () => {
    const c = resolveBrokerConfig({ dataDir: '/var/lib/ratchetd' });
    expect(c).toMatchObject({
      host: '127.0.0.1',
      port: 0,
      persistence: 'level',
      levelPath: path.join('/var/lib/ratchetd', 'broker'),
      relayName: 'ratchetd',
      tls: null,
      wsPort: null,
      maxProofsPerIdentity: 64,
      topicPrefix: 'ratchetd/v1',
      maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES,
      maxQueuedPerClient: 0,
      messageTtlMs: 0,
    });
    expect(DEFAULT_MAX_PAYLOAD_BYTES).toBe(300 * 1024);
  });

  it('refuses bad options with ConfigError', () => {
    expect(configError(() => resolveBrokerConfig({}))).toBe('ConfigError'); // level needs a dataDir
    expect(configError(() => resolveBrokerConfig({ persistence: 'postgres' as 'level', dataDir: '/x' }))).toBe('ConfigError');
    expect(configError(() => resolveBrokerConfig({ dataDir: '/x', port: 70000 }))).toBe('ConfigError');
    expect(configError(() => resolveBrokerConfig({ dataDir: '/x', topicPrefix: 'a/#' }))).toBe('ConfigError');
    expect(configError(() => resolveBrokerConfig({ dataDir: '/x', topicPrefix: '$SYS' }))).toBe('ConfigError');
    expect(configError(() => resolveBrokerConfig({ dataDir: '/x', maxPayloadBytes: 0 }))).toBe('ConfigError');
    expect(configError(() => resolveBrokerConfig({ dataDir: '/x', maxQueuedPerClient: -1 }))).toBe('ConfigError');
    expect(configError(() => createBroker({ dataDir: '/x', relayName: '' }))).toBe('ConfigError');
    expect(configError(() => createBroker({ dataDir: '/x', relayName: 'x'.repeat(256) }))).toBe('ConfigError');
    expect(configError(() => resolveBrokerConfig({ dataDir: '/x', maxProofsPerIdentity: 0 }))).toBe('ConfigError');
    expect(configError(() => resolveBrokerConfig({ dataDir: '/x', wsPort: 70000 }))).toBe('ConfigError');
    expect(configError(() => resolveBrokerConfig({ persistence: 'memory' }))).toBe('no error');
  });

  it('start() fails with StoreError when the data dir is unusable', async () => {
    const tmp = await tempDir('baddir');
    cleanups.push(tmp.remove);
    const file = path.join(tmp.dir, 'not-a-dir');
    await writeFile(file, 'x');
    const broker = createBroker({ dataDir: file });
    await expect(broker.start()).rejects.toMatchObject({ code: 'StoreError' });
    await expect(broker.start()).rejects.toMatchObject({ code: 'StoreError' }); // may retry; same clear error
    await broker.close(); // nothing to close, must not throw
  });

  it('runs with in-memory persistence and no data dir', async () => {
    const crypto = await createSodiumCrypto();
    const broker = createBroker({ persistence: 'memory', crypto });
    cleanups.push(() => broker.close());
    const { url, host, port } = await broker.start();
    expect(url).toBe(`mqtt://127.0.0.1:${port}`);
    expect(host).toBe('127.0.0.1');
    expect(port).toBeGreaterThan(0);
    await expect(broker.start()).rejects.toMatchObject({ code: 'ConfigError' }); // already started
    const [alice, bob] = [newIdentity(crypto), newIdentity(crypto)];
    const got: string[] = [];
    const b = await connectAs(url, crypto, bob, { onMessage: (_t, p) => got.push(p.toString()) });
    cleanups.push(() => end(b));
    await b.subscribeAsync(inboxTopic(bob.userId), { qos: 1 });
    const a = await connectAs(url, crypto, alice);
    cleanups.push(() => end(a));
    await a.publishAsync(inboxTopic(bob.userId), 'hello', { qos: 1 });
    await until(() => got.length >= 1);
    expect(got).toEqual(['hello']);
  });

  it('two brokers cannot share one data dir (LevelDB lock): the second fails to start', async () => {
    const tmp = await tempDir('lock');
    cleanups.push(tmp.remove);
    const one = createBroker({ dataDir: tmp.dir });
    cleanups.push(() => one.close());
    await one.start();
    await expect(createBroker({ dataDir: tmp.dir }).start()).rejects.toMatchObject({ code: 'StoreError' });
  });

  it('a redisUrl selects the cluster persistence; nonsense is a ConfigError', () => {
    expect(resolveBrokerConfig({ redisUrl: 'redis://10.0.0.5:6379/2' })).toMatchObject({ persistence: 'redis', redisUrl: 'redis://10.0.0.5:6379/2', levelPath: null });
    expect(resolveBrokerConfig({ dataDir: '/x' }).redisUrl).toBeNull();
    expect(configError(() => resolveBrokerConfig({ persistence: 'redis' }))).toBe('ConfigError'); // no URL
    expect(configError(() => resolveBrokerConfig({ redisUrl: 'http://h:1' }))).toBe('ConfigError');
    expect(configError(() => resolveBrokerConfig({ redisUrl: 'not a url' }))).toBe('ConfigError');
    expect(configError(() => resolveBrokerConfig({ dataDir: '/x', persistence: 'level', redisUrl: 'redis://h:1' }))).toBe('ConfigError');
  });

  it('start() fails with StoreError when Redis cannot be reached, without the password in the message', async () => {
    const port = await freePort(); // nothing listens there
    const broker = createBroker({ redisUrl: `redis://:hunter2@127.0.0.1:${port}` });
    const err: unknown = await broker.start().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'StoreError' });
    expect((err as Error).message).toContain(`127.0.0.1:${port}`);
    expect((err as Error).message).not.toContain('hunter2');
    await broker.close();
  });
});
