/**
 * Issue 6 item 2: a recorded CONNECT proof must not log in twice — also across a broker restart.
 * The broker remembers proof nonces only in memory (broker/replay-cache.ts) for the proof's skew
 * window (RELAY_AUTH_MAX_SKEW_MS, 2 minutes either side). An on-path attacker who recorded bob's
 * CONNECT (plain MQTT over TCP) and replays it right after the broker restarts would log in as bob
 * with bob's client id: take over his persistent session (read and ack his queued ciphertexts, or
 * wipe the queue with clean:true) — not readable, but a denial of delivery until retransmission.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { IConnectPacket } from 'mqtt-packet';
import { createSodiumCrypto } from '../../crypto/sodium.ts';
import { verifyRelayProof, DEFAULT_RELAY_AUDIENCE } from '../../core/relay-auth.ts';
import { RELAY_AUTH_MAX_SKEW_MS } from '../../core/limits.ts';
import { tryConnect } from './support/mallory.ts';
import { exchange, startSecNetwork, type SecNetwork } from './support/network.ts';

const crypto = await createSodiumCrypto();
let net: SecNetwork | undefined;

afterAll(async () => {
  await net?.stop();
});

describe('a recorded CONNECT proof', () => {
  it('is refused after a broker restart too (the replay window outlives the process)', { timeout: 120_000 }, async () => {
    net = await startSecNetwork();
    const n = net;
    const [alice, bob] = await Promise.all([n.startDaemon('alice'), n.startDaemon('bob')]);
    await exchange(alice, bob, 'before the restart');
    const recorded = n.tap.events.filter((e) => e.dir === 'up' && e.packet.cmd === 'connect' && e.clientId === bob.userId).at(-1)!.packet as IConnectPacket;
    const proof = verifyRelayProof(crypto, recorded.username, new Uint8Array(recorded.password!), bob.userId, DEFAULT_RELAY_AUDIENCE, Date.now(), RELAY_AUTH_MAX_SKEW_MS);
    expect(proof.userId).toBe(bob.userId); // still within its life: the replay below is in time

    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      await n.restartBroker(signal);
      const replay = await tryConnect(n.brokerUrl, { clientId: bob.userId, username: recorded.username!, password: Buffer.from(recorded.password!), clean: false });
      replay.client.end(true);
      expect([4, 5], `replayed proof after a ${signal} restart: CONNACK ${replay.returnCode}`).toContain(replay.returnCode);
    }
    await exchange(alice, bob, 'after the restarts');
  });
});
