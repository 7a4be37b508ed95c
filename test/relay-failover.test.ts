/**
 * Issue 13: `ratchetd daemon --broker URL,URL`: the nodes of one relay cluster (two `ratchetd broker
 * --redis` nodes sharing a Redis, both TLS). Alice lists node A (mqtts://) first and node B (wss://)
 * second; bob uses node B. When node A is killed (SIGKILL), alice moves to node B by herself and
 * nothing she sent is lost: what she sends while she has no relay waits in her outbox, and every
 * message arrives once. Real processes, free ports, certificates made per run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type RunningRedis } from './fixtures/redis-process.ts';
import { makeTestCertificates, type TestCertificates } from './fixtures/tls-certs.ts';
import { exchange, RelayProcesses } from './fixtures/relay-processes.ts';

let certs: TestCertificates;
let net: RelayProcesses;
let redis: RunningRedis | undefined;
beforeAll(async () => {
  certs = await makeTestCertificates();
  net = await RelayProcesses.create('failover');
});
afterAll(async () => {
  await net?.stopAll();
  await redis?.stop();
  await certs?.remove();
});

const port = (url: unknown): number => Number(new URL(String(url)).port);

describe('--broker URL,URL (failover between the nodes of a cluster)', () => {
  it('moves to the next node when its node is killed, and loses no message', { timeout: 120_000 }, async () => {
    redis = await startRedis(net.dir);
    const node = (name: string) =>
      net.broker(name, ['--redis', redis!.url, '--tls-cert', certs.server.certFile, '--tls-key', certs.server.keyFile, '--ws-port', '0', '--relay-name', 'cluster-1']);
    const [a, b] = await Promise.all([node('node A'), node('node B')]);
    const urlA = `mqtts://localhost:${port(a.ready['mqtt'])}`;
    const urlB = `wss://127.0.0.1:${port(b.ready['ws'])}`;
    const common = ['--broker-ca', certs.caFile, '--relay-name', 'cluster-1'];
    const [alice, bob] = await Promise.all([
      net.daemon('alice', ['--broker', `${urlA},${urlB}`, ...common]),
      net.daemon('bob', ['--broker', `mqtts://127.0.0.1:${port(b.ready['mqtt'])}`, ...common]),
    ]);
    expect(await alice.client.getStatus()).toMatchObject({ brokerConnected: true, brokerUrl: urlA });
    await exchange(alice, bob, 'through node A, then B');

    a.proc.child.kill('SIGKILL');
    await a.proc.exited;
    const texts = Array.from({ length: 5 }, (_, i) => `sent after node A died #${i}`);
    const sent = await Promise.all(texts.map((body) => alice.client.send({ to: bob.userId, body })));
    await bob.events.until(() => texts.every((t) => bob.events.texts(alice.userId).includes(t)), 'all five at bob', 60_000);
    await alice.events.until(() => sent.every((s) => alice.events.delivered(s.messageId)), 'all five delivered', 60_000);
    for (const t of texts) expect(bob.events.texts(alice.userId).filter((x) => x === t), t).toHaveLength(1);
    expect(await alice.client.getStatus()).toMatchObject({ brokerConnected: true, brokerUrl: urlB });
    await exchange(bob, alice, 'and back through node B');
  });
});
