/**
 * Issue 6 item 2: a malicious relay substitutes or replays prekey bundles. The tap rewrites the
 * retained bundle the broker sends alice for bob's topic; alice's daemon must refuse it and encrypt
 * nothing to any key from it.
 *  - Substituted: carol's genuine bundle (another identity), bob's identity key with prekeys signed
 *    by carol, bob's bundle with one one-time prekey swapped, truncated, random bytes → Send fails
 *    (FAILED_PRECONDITION, WrongRecipient/BadSignature), alice publishes no envelope at all and
 *    keeps no contact; the genuine bundle then works.
 *  - Replayed (rolled back): after alice has seen a newer bundle of bob, bob's message too far ahead
 *    reaches her (TooFarAhead: what bob sends after more than MAX_SKIP of his messages were lost; its
 *    header authenticates, so she resets the session and fetches bob's bundle) and the relay serves
 *    bob's first, older bundle: alice refuses it (RolledBackBundle) and starts no session —
 *    every handshake-kind envelope that leaves her afterwards continues the session she had (same
 *    X3DH ephemeral key and sealed sender) and names a newer bundle — while that session keeps
 *    working.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IPublishPacket } from 'mqtt-packet';
import { ApiCallError } from '../../daemon/api/client.ts';
import { createSodiumCrypto } from '../../crypto/sodium.ts';
import { ENVELOPE_KIND_PQ_HANDSHAKE, PQ_SEALED_SENDER_BYTES } from '../../core/envelope.ts';
import { buildBundle, createPrekeyState, decodeEnvelope, unsealSender, verifyBundle, type HandshakeEnvelope, type LocalIdentity } from '../../core/index.ts';
import { bundleTopic, inboxTopic } from '../../core/topics.ts';
import type { UserId } from '../../core/user-id.ts';
import { readDaemonState } from './support/daemon-state.ts';
import { messageTooFarAhead } from './support/forge.ts';
import { exchange, startSecNetwork, type SecDaemon, type SecNetwork } from './support/network.ts';
import type { TapEvent } from './support/tcp-tap.ts';

const crypto = await createSodiumCrypto();
let net: SecNetwork;
let alice: SecDaemon;
let bob: SecDaemon;
let carol: SecDaemon;

/** Offset of the first one-time prekey's raw X25519 key in a bundle (bundle.ts wire format). */
const FIRST_OPK_KEY_OFFSET = 1 + 33 + 4 + 33 + 8 + 4 + 8 + 2 + 4 + 1;

beforeAll(async () => {
  net = await startSecNetwork();
  [alice, bob, carol] = await Promise.all([net.startDaemon('alice'), net.startDaemon('bob'), net.startDaemon('carol')]);
}, 60_000);

afterAll(async () => {
  await net?.stop();
});

const bundlesPublishedBy = (d: SecDaemon): Buffer[] =>
  net.tap.publishes('up', d.userId).filter((p) => p.topic === bundleTopic(d.userId as UserId) && p.payload.length > 0).map((p) => p.payload);
const inboxPublishesBy = (d: SecDaemon, afterSeq = -1) => net.tap.publishes('up', d.userId).filter((p) => p.topic.includes('/inbox/') && p.event.seq > afterSeq);
const version = (bundle: Uint8Array, owner: SecDaemon): number => verifyBundle(crypto, bundle, owner.userId as UserId, Date.now()).bundleVersion;
/** EK_A ‖ sealed sender of a (PQXDH) handshake envelope: made once per handshake, the same on every message of that session. */
const x3dhOf = (handshake: Buffer): string => handshake.subarray(2, 2 + 32 + PQ_SEALED_SENDER_BYTES).toString('hex');

/** The relay serves `payload` whenever alice reads bob's bundle topic. */
function serveToAlice(payload: Uint8Array | undefined): void {
  const topic = bundleTopic(bob.userId as UserId);
  net.tap.setRewriter(
    payload === undefined
      ? undefined
      : (packet, info) =>
          info.dir === 'down' && info.clientId === alice.userId && packet.cmd === 'publish' && packet.topic === topic
            ? ({ ...packet, payload: Buffer.from(payload) } as IPublishPacket)
            : undefined,
  );
}

/**
 * What bob would send alice after MAX_SKIP + 1 messages that never arrived: authentic (made with
 * bob's session keys, read from his stopped data dir) and too far ahead, so alice resets.
 */
async function tooFarAheadFromBob(): Promise<Buffer> {
  await net.stopDaemon(bob);
  const state = await readDaemonState(crypto, bob.dataDir);
  await net.startDaemon('bob');
  return Buffer.from(messageTooFarAhead(crypto, state.identity, state.peers.get(alice.userId)!, Date.now()));
}

describe('a relay that substitutes or replays bundles', () => {
  it('substituted bundles are refused and nothing is encrypted to their keys', async () => {
    await net.tap.waitFor((e) => e.clientId === bob.userId && e.packet.cmd === 'publish' && e.packet.topic === bundleTopic(bob.userId as UserId), "bob's bundle");
    await net.tap.waitFor((e) => e.clientId === carol.userId && e.packet.cmd === 'publish' && e.packet.topic === bundleTopic(carol.userId as UserId), "carol's bundle");
    const genuine = bundlesPublishedBy(bob).at(-1)!;
    const carolState = await (async () => {
      await net.stopDaemon(carol);
      return readDaemonState(crypto, carol.dataDir);
    })();
    const bobKey = verifyBundle(crypto, genuine, bob.userId as UserId, Date.now()).identityKey;
    const posingAsBob: LocalIdentity = { userId: bob.userId as UserId, keyPair: { publicKey: bobKey, privateKey: carolState.identity.keyPair.privateKey } };
    const swappedOpk = Buffer.from(genuine);
    swappedOpk.set(crypto.x25519KeyPair().publicKey, FIRST_OPK_KEY_OFFSET);
    expect(swappedOpk[FIRST_OPK_KEY_OFFSET - 1]).toBe(0x05); // the offset points at Enc(OPK)'s key

    const forgeries: Array<[string, Uint8Array, string]> = [
      ["carol's genuine bundle (another identity)", bundlesPublishedBy(carol).at(-1)!, 'WrongRecipient'],
      ["bob's identity key, prekeys signed by carol", buildBundle(crypto, posingAsBob, createPrekeyState(crypto, Date.now()), Date.now()).bundle, 'BadSignature'],
      ["bob's bundle with a one-time prekey swapped", swappedOpk, 'BadSignature'],
      ["bob's bundle truncated", genuine.subarray(0, genuine.length - 7), 'BadSignature'],
      ['random bytes', randomBytes(genuine.length), 'BadSignature'],
    ];
    for (const [what, payload, code] of forgeries) {
      serveToAlice(payload);
      const from = net.tap.events.length;
      const err = await alice.client.send({ to: bob.userId, body: `to ${what}` }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err, what).toBeInstanceOf(ApiCallError);
      expect({ status: (err as ApiCallError).statusName, code: (err as ApiCallError).errorCode }, what).toEqual({ status: 'FAILED_PRECONDITION', code });
      expect(net.tap.events.some((e: TapEvent) => e.seq >= from && e.action === 'rewritten'), `${what}: the forgery was served`).toBe(true);
    }
    expect(inboxPublishesBy(alice)).toEqual([]);
    expect(await alice.client.listContacts()).toEqual([]);

    serveToAlice(undefined);
    await exchange(alice, bob, 'the genuine bundle works');
    const [contact] = await alice.client.listContacts();
    expect(Buffer.from(contact!.identityKey).equals(Buffer.from(bobKey))).toBe(true);
  });

  it('a replayed older bundle is refused (RolledBackBundle): no new session, the current one keeps working', async () => {
    const oldest = bundlesPublishedBy(bob)[0]!;
    // bob republishes after alice's handshake consumed a one-time prekey
    await net.tap.waitFor(() => bundlesPublishedBy(bob).length >= 2, "bob's republished bundle");
    await exchange(bob, alice, 'a session envelope to reuse');

    // 1. With the genuine bundle: bob's message too far ahead makes alice reset onto bob's newest bundle.
    const far = await tooFarAheadFromBob();
    let from = net.tap.events.length;
    await net.tap.injectToClient(alice.userId, inboxTopic(alice.userId as UserId), far);
    const reset = await net.tap.waitFor((e) => e.seq >= from && e.clientId === alice.userId && e.packet.cmd === 'publish' && e.packet.topic === inboxTopic(bob.userId as UserId) && Buffer.from(e.packet.payload)[1] === ENVELOPE_KIND_PQ_HANDSHAKE, "alice's reset handshake");
    const seen = net.tap.publishes('down', alice.userId).filter((p) => p.topic === bundleTopic(bob.userId as UserId)).at(-1)!.payload;
    expect(version(seen, bob)).toBeGreaterThan(version(oldest, bob));
    // bob's reply goes out on the reset session only once bob has stored the reset (his PUBACK);
    // sent earlier, it is encrypted on the old session and alice's new one stays unanswered.
    const resetBytes = Buffer.from((reset.packet as IPublishPacket).payload);
    const toBob = await net.tap.waitFor((e) => e.seq > reset.seq && e.clientId === bob.userId && e.dir === 'down' && e.packet.cmd === 'publish' && Buffer.from(e.packet.payload).equals(resetBytes), 'the reset delivered to bob');
    await net.tap.waitFor((e) => e.seq > toBob.seq && e.clientId === bob.userId && e.dir === 'up' && e.packet.cmd === 'puback' && e.packet.messageId === (toBob.packet as IPublishPacket).messageId, 'bob stored the reset');
    await exchange(bob, alice, 'on the reset session');

    // 2. Restart alice (her reset rate limit is per process), then the same with the old bundle.
    const farAgain = await tooFarAheadFromBob(); // on the session the reset made active
    await net.stopDaemon(alice);
    await net.startDaemon('alice');
    serveToAlice(oldest);
    from = net.tap.events.length;
    await net.tap.injectToClient(alice.userId, inboxTopic(alice.userId as UserId), farAgain);
    const served = await net.tap.waitFor((e) => e.seq >= from && e.action === 'rewritten', 'the old bundle served to alice');
    await net.tap.waitFor((e) => e.seq > served.seq && e.clientId === alice.userId && e.packet.cmd === 'unsubscribe', 'alice done with the bundle');
    serveToAlice(undefined);
    await exchange(alice, bob, 'still on the current session');
    await exchange(bob, alice, 'and back');
    expect(inboxPublishesBy(alice, from).length).toBeGreaterThanOrEqual(2);

    // No session from the replayed bundle. That is not "no handshake-kind envelope": alice's messages
    // on a session bob has not answered yet are of that kind, which happened when
    // bob's phase-1 reply went out on the older session (before the wait for his PUBACK above). So:
    // each must belong to a session she had before the old bundle was served, and its sealed sender
    // (opened with bob's identity key) must name a bundle newer than the replayed one.
    const handshakes = inboxPublishesBy(alice, from).filter((p) => p.payload[1] === ENVELOPE_KIND_PQ_HANDSHAKE);
    const sessionsBefore = new Set(inboxPublishesBy(alice).filter((p) => p.event.seq < from && p.payload[1] === ENVELOPE_KIND_PQ_HANDSHAKE).map((p) => x3dhOf(p.payload)));
    for (const h of handshakes) expect(sessionsBefore.has(x3dhOf(h.payload)), `handshake envelope (tap seq ${h.event.seq}) of a session started after the replay`).toBe(true);
    await net.stopDaemon(bob);
    const bobIdentity = (await readDaemonState(crypto, bob.dataDir)).identity;
    for (const h of handshakes) {
      expect(unsealSender(crypto, bobIdentity, decodeEnvelope(h.payload) as HandshakeEnvelope).bundleVersion).toBeGreaterThan(version(oldest, bob));
    }
  });
});
