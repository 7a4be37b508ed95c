/**
 * Issue 6 item 2, on the wire: a TCP tap between two real daemon processes and the real broker.
 *  - Everything it recorded (every byte, both directions, whole conversation) contains no plaintext,
 *    no private value of either daemon (identity secret key, seed and X25519 form, signed and
 *    one-time prekeys, ratchet DHs keys, root/chain/header keys, skipped message keys — read from
 *    the data dirs at a mid-conversation checkpoint and at the end) and not the at-rest store key.
 *  - No inbox payload (envelope) carries the sender's user id (text or raw) or identity key
 *    (Ed25519 or X25519 form), nor the recipient's.
 *  - Every envelope alice sent bob, replayed by the relay (injected on bob's connection) and by an
 *    authenticated outsider (published to bob's inbox through the broker), is acked and dropped:
 *    bob's bot gets nothing twice, and the conversation goes on.
 * The tests share one conversation and run in order (the scan comes last and covers the replays).
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSodiumCrypto } from '../../crypto/sodium.ts';
import { inboxTopic } from '../../core/topics.ts';
import type { UserId } from '../../core/user-id.ts';
import { findSecrets, identityMarkers, privateSecrets, readDaemonState, type LabelledSecret } from './support/daemon-state.ts';
import { connectMallory } from './support/mallory.ts';
import { exchange, startSecNetwork, type SecDaemon, type SecNetwork } from './support/network.ts';

const crypto = await createSodiumCrypto();
let net: SecNetwork;
let alice: SecDaemon;
let bob: SecDaemon;
const plaintexts: LabelledSecret[] = [];
const secrets: LabelledSecret[] = [];

const marker = (label: string): string => {
  const text = `PLAINTEXT-${label}-${randomBytes(6).toString('hex')}`;
  plaintexts.push({ label: `plaintext ${label}`, bytes: Buffer.from(text) });
  return text;
};

async function checkpoint(): Promise<void> {
  for (const d of [alice, bob]) {
    await net.stopDaemon(d);
    secrets.push(...privateSecrets(crypto, `${d.name}@${secrets.length}`, await readDaemonState(crypto, d.dataDir)));
    secrets.push({ label: `${d.name}.store.key`, bytes: await readFile(join(d.dataDir, 'store.key')) });
    await net.startDaemon(d.name);
  }
}

beforeAll(async () => {
  net = await startSecNetwork();
  [alice, bob] = await Promise.all([net.startDaemon('alice'), net.startDaemon('bob')]);
  for (let i = 0; i < 3; i++) await exchange(alice, bob, marker(`a2b-${i}`));
  for (let i = 0; i < 3; i++) await exchange(bob, alice, marker(`b2a-${i}`));
  await checkpoint();
  const blob = randomBytes(3000);
  for (let i = 0; i + 32 <= blob.length; i += 32) plaintexts.push({ label: `binary body[${i}..]`, bytes: blob.subarray(i, i + 32) });
  const { messageId } = await alice.client.send({ to: bob.userId, body: blob, contentType: 'application/octet-stream' });
  await alice.log.until(() => alice.log.delivered(messageId), 'binary body delivered');
  for (let i = 3; i < 6; i++) {
    await exchange(alice, bob, marker(`a2b-${i}`));
    await exchange(bob, alice, marker(`b2a-${i}`));
  }
}, 120_000);

afterAll(async () => {
  await net?.stop();
});

describe('a relay that records and replays everything', () => {
  it('replayed envelopes (by the relay and by an authenticated outsider) are acked and never delivered twice', async () => {
    const bobInbox = inboxTopic(bob.userId as UserId);
    const captured = net.tap.publishes('up', alice.userId).filter((p) => p.topic === bobInbox).map((p) => p.payload);
    expect(captured.some((p) => (p[1] === 0x02 || p[1] === 0x04))).toBe(true); // handshake envelopes among them
    expect(captured.some((p) => p[1] === 0x01)).toBe(true); // and session envelopes
    const before = bob.log.texts(alice.userId);
    expect(before.length).toBe(7);

    // 1. The relay re-delivers each captured PUBLISH on bob's connection; bob acks every one.
    for (const payload of captured) {
      const ack = await net.tap.injectToClient(bob.userId, bobInbox, payload);
      expect(ack.packet.cmd).toBe('puback');
    }
    // 2. An authenticated outsider publishes them all again through the broker.
    const mallory = await connectMallory(crypto, net.brokerUrl);
    const from = net.tap.events.length;
    for (const payload of captured) await mallory.client.publishAsync(bobInbox, payload, { qos: 1 });
    await mallory.client.endAsync();
    for (const payload of captured) {
      const down = await net.tap.waitFor(
        (e) => e.seq >= from && e.dir === 'down' && e.clientId === bob.userId && e.packet.cmd === 'publish' && Buffer.from(e.packet.payload).equals(payload),
        'the outsider replay reaching bob',
      );
      const id = down.packet.cmd === 'publish' ? down.packet.messageId : undefined;
      await net.tap.waitFor((e) => e.seq > down.seq && e.dir === 'up' && e.clientId === bob.userId && e.packet.cmd === 'puback' && e.packet.messageId === id, 'bob acks it');
    }

    const after = marker('after-replay');
    await exchange(alice, bob, after);
    expect(bob.log.texts(alice.userId)).toEqual([...before, after]);
    const ids = bob.log.events.flatMap((e) => (e.kind === 'message' ? [e.message.messageId] : []));
    expect(new Set(ids).size).toBe(ids.length);
    await exchange(bob, alice, marker('bob-still-talks'));
  });

  it('the tap never saw a plaintext, a private key, the store key, or a sender identity inside an envelope', async () => {
    await net.stopDaemon(alice);
    await net.stopDaemon(bob);
    const states = { alice: await readDaemonState(crypto, alice.dataDir), bob: await readDaemonState(crypto, bob.dataDir) };
    secrets.push(...privateSecrets(crypto, 'alice@end', states.alice), ...privateSecrets(crypto, 'bob@end', states.bob));
    const wire = net.tap.rawBytes();

    // The scan is meaningful: lots of traffic, sessions with keys, and it finds what IS public.
    expect(wire.length).toBeGreaterThan(20_000);
    expect(secrets.filter((s) => s.label.includes('.active.RK')).length).toBeGreaterThanOrEqual(4);
    expect(secrets.filter((s) => s.label.includes('OPK#')).length).toBeGreaterThan(100);
    expect(findSecrets(wire, identityMarkers(crypto, 'bob', states.bob.identity))).toContain('bob.identityKey(ed25519)'); // in his bundle and CONNECT proof

    expect(findSecrets(wire, plaintexts)).toEqual([]);
    expect(findSecrets(wire, secrets)).toEqual([]);

    const envelopes = net.tap.publishes('up').filter((p) => p.topic.includes('/inbox/'));
    expect(envelopes.length).toBeGreaterThan(20);
    for (const [name, sender, recipient] of [['alice', states.alice, states.bob], ['bob', states.bob, states.alice]] as const) {
      const sent = envelopes.filter((p) => p.event.clientId === sender.identity.userId).map((p) => p.payload);
      expect(sent.length, `${name} sent envelopes`).toBeGreaterThan(5);
      const markers = [...identityMarkers(crypto, name, sender.identity), ...identityMarkers(crypto, `${name}'s peer`, recipient.identity)];
      expect(findSecrets(Buffer.concat(sent), markers)).toEqual([]);
    }
  });
});
