/**
 * Issue 6 item 2, state compromise at daemon level: an attacker who recorded every envelope (the
 * tap) and later copies a whole data dir, key file included, opens it with the store and the
 * protocol facade and tries to decrypt what was recorded.
 *  - Forward secrecy: a copy of bob's (and alice's) data dir taken after delivery opens none of
 *    the recorded envelopes: decryptFromPeer on every session envelope, and acceptHandshake on
 *    every handshake envelope both with the stored records and replay cache and with no peer record
 *    and the replay check switched off (an attacker ignores it). Control: a copy taken BEFORE a
 *    message was delivered does open it, so the method would find a weakness.
 *  - Post-compromise security: a copy of alice's data dir, evolved by decrypting everything bob
 *    sends her (as a passive eavesdropper would), reads bob's message inside the next round trip
 *    (alice → bob, bob → alice) and nothing bob sends after that round trip.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createSodiumCrypto } from '../../crypto/sodium.ts';
import { toHex } from '../../core/bytes.ts';
import {
  acceptHandshake,
  decodeEnvelope,
  decryptFromPeer,
  unsealSender,
  type Content,
  type PeerRecord,
} from '../../core/index.ts';
import { inboxTopic } from '../../core/topics.ts';
import type { UserId } from '../../core/user-id.ts';
import { readDaemonState, type DaemonState } from './support/daemon-state.ts';
import { exchange, startSecNetwork, type SecDaemon, type SecNetwork } from './support/network.ts';

const crypto = await createSodiumCrypto();
let net: SecNetwork | undefined;

afterEach(async () => {
  await net?.stop();
  net = undefined;
});

const body = (c: Content): string | null => (c.kind === 'message' ? Buffer.from(c.body).toString('utf8') : null);

interface Attempt {
  /** Message bodies the attacker recovered. */
  readonly read: string[];
  /** How many envelopes opened at all (messages, receipts, resets). */
  readonly opened: number;
  /** Per envelope: opened or the refusal code. */
  readonly outcomes: string[];
}

/**
 * Everything an attacker holding `st` can do with the facade to the envelopes addressed to its
 * owner, in order, evolving the copied state on every success (as its owner would).
 */
function attack(st: DaemonState, envelopes: readonly Uint8Array[]): Attempt {
  const peers = new Map<string, PeerRecord>(st.peers);
  let prekeys = st.prekeys;
  const read: string[] = [];
  const outcomes: string[] = [];
  const now = Date.now();
  for (const bytes of envelopes) {
    let outcome = 'none';
    const opened = (c: Content, next: PeerRecord): void => {
      peers.set(next.peerUserId, next);
      const text = body(c);
      if (text !== null) read.push(text);
      outcome = `opened ${c.kind}`;
    };
    try {
      const env = decodeEnvelope(bytes);
      if (env.kind === 'session') {
        for (const rec of peers.values()) {
          try {
            const r = decryptFromPeer(crypto, rec, env, now);
            opened(r.content, r.next);
            break;
          } catch (e) {
            outcome = (e as { code?: string }).code ?? 'error';
          }
        }
      } else {
        const sender = unsealSender(crypto, st.identity, env); // the sealed sender opens with the identity key: metadata only
        expect(sender.oneTimePrekeyId).not.toBeNull(); // FS of first messages rests on one-time prekeys
        const stored = peers.get(sender.senderUserId) ?? null;
        const tries: Array<[PeerRecord | null, (id: Uint8Array) => boolean]> = [
          [stored, (id) => st.replayIds.has(toHex(id))],
          [null, () => false], // no session, replay check off
        ];
        for (const [peer, isReplay] of tries) {
          try {
            const r = acceptHandshake(crypto, st.identity, prekeys, peer, env, sender, now, isReplay);
            prekeys = r.nextPrekeys;
            opened(r.content, r.next);
            break;
          } catch (e) {
            outcome = (e as { code?: string }).code ?? 'error';
          }
        }
      }
    } catch (e) {
      outcome = (e as { code?: string }).code ?? 'error';
    }
    outcomes.push(outcome);
  }
  return { read, opened: outcomes.filter((o) => o.startsWith('opened')).length, outcomes };
}

function envelopesTo(n: SecNetwork, to: SecDaemon, from: SecDaemon, afterSeq = -1): { seq: number; payload: Buffer }[] {
  const topic = inboxTopic(to.userId as UserId);
  return n.tap
    .publishes('up', from.userId)
    .filter((p) => p.topic === topic && p.event.seq > afterSeq)
    .map((p) => ({ seq: p.event.seq, payload: p.payload }));
}

const mark = (s: string): string => `${s}-${randomBytes(4).toString('hex')}`;

describe('an attacker who recorded the traffic and later copies a data dir (key file included)', () => {
  it('forward secrecy: a copy taken after delivery opens none of the recorded envelopes', async () => {
    net = await startSecNetwork();
    const [alice, bob] = await Promise.all([net.startDaemon('alice'), net.startDaemon('bob')]);
    for (let i = 0; i < 3; i++) await exchange(alice, bob, mark(`a2b-${i}`));
    for (let i = 0; i < 2; i++) await exchange(bob, alice, mark(`b2a-${i}`));
    // Control: a copy of bob taken now, before "late" is sent, can read "late".
    await net.stopDaemon(bob);
    const earlyBob = await net.copyDataDir(bob, 'early');
    await net.startDaemon('bob');
    const late = mark('late');
    await exchange(alice, bob, late);
    await exchange(bob, alice, mark('bye'));
    await exchange(alice, bob, mark('last'));

    await net.stopDaemon(alice);
    await net.stopDaemon(bob);
    const laterBob = await readDaemonState(crypto, await net.copyDataDir(bob, 'later'));
    const laterAlice = await readDaemonState(crypto, await net.copyDataDir(alice, 'later'));
    const toBob = envelopesTo(net, bob, alice).map((e) => e.payload);
    const toAlice = envelopesTo(net, alice, bob).map((e) => e.payload);
    expect(toBob.some((p) => (p[1] === 0x02 || p[1] === 0x04))).toBe(true); // the recording includes the handshake

    const onBob = attack(laterBob, toBob);
    const onAlice = attack(laterAlice, toAlice);
    expect({ read: onBob.read, opened: onBob.opened }).toEqual({ read: [], opened: 0 });
    expect({ read: onAlice.read, opened: onAlice.opened }).toEqual({ read: [], opened: 0 });
    expect(onBob.outcomes.length).toBeGreaterThanOrEqual(7);

    const control = attack(await readDaemonState(crypto, earlyBob), toBob);
    expect(control.read).toEqual([late, expect.stringMatching(/^last-/)]);
  });

  it('post-compromise: a copy of alice stops reading bob after one round trip', async () => {
    net = await startSecNetwork();
    const [alice, bob] = await Promise.all([net.startDaemon('alice'), net.startDaemon('bob')]);
    for (let i = 0; i < 2; i++) {
      await exchange(alice, bob, mark(`warm-a${i}`));
      await exchange(bob, alice, mark(`warm-b${i}`));
    }
    await net.stopDaemon(alice);
    const stolen = await readDaemonState(crypto, await net.copyDataDir(alice, 'eve'));
    await net.startDaemon('alice');
    const copiedAt = net.tap.events.length;

    // One round trip after the copy: alice → bob, bob → alice (each acknowledged by a receipt).
    await exchange(alice, bob, mark('rt-a'));
    const inRoundTrip = mark('rt-b');
    await exchange(bob, alice, inRoundTrip);
    const roundTripDone = net.tap.events.length;
    const after = [mark('after-1'), mark('after-2'), mark('after-3')];
    await exchange(bob, alice, after[0]!);
    await exchange(alice, bob, mark('after-a'));
    await exchange(bob, alice, after[1]!);
    await exchange(bob, alice, after[2]!);

    const recorded = envelopesTo(net, alice, bob, copiedAt);
    const eve = attack(stolen, recorded.map((e) => e.payload));
    // The copy was a real compromise: it reads bob's message inside the round trip ...
    expect(eve.read).toEqual([inRoundTrip]);
    // ... and nothing bob sent after the round trip (messages or receipts), and it never recovers.
    const afterIdx = recorded.findIndex((e) => e.seq >= roundTripDone);
    expect(afterIdx).toBeGreaterThan(0);
    expect(recorded.length - afterIdx).toBeGreaterThanOrEqual(4);
    expect(eve.outcomes.slice(afterIdx).filter((o) => o.startsWith('opened'))).toEqual([]);
    // the real alice read everything
    expect(alice.log.texts(bob.userId).slice(-3)).toEqual(after);
  });
});
