/**
 * Issue 10 item 2: nothing an unauthenticated envelope claims makes the daemon act. Real processes:
 * a `ratchetd broker`, daemons alice, bob and xavier (a stranger to bob, with a published bundle)
 * behind a TCP tap (the relay). Mallory, an authenticated outsider, floods bob's inbox with
 * handshakes sealed to bob's public identity key (all the sealed block needs) that name alice, xavier
 * or random identities, with unknown prekey ids, or with bob's real ones and no key agreement behind
 * them; the relay adds alice's session envelopes with her valid routing tag and a damaged header.
 *  - Flood only: bob acks everything and does nothing at all: no publish (no envelope, no bundle: no
 *    one-time prekey of his consumed), no bundle fetch (so no one-time prekey of alice's or xavier's
 *    consumed), no new contact — first while alice is a stranger too, then while she is a contact.
 *  - During the flood, genuine recovery still works: (a) a real lost race — carol's handshakes take
 *    every one-time prekey of bob's bundle, and the relay serves alice that older bundle — ends with
 *    alice's message delivered once, bob never having answered her stale handshake; (b) an
 *    authenticated reset: alice's message too far ahead (its header decrypts, so only she could have
 *    made it) makes bob reset the session, although the flood has named more than 30 strangers (the
 *    old global reset budget) and alice herself.
 * Over the whole run bob publishes only to alice and carol, fetches only alice's bundle and only for
 * (b); xavier gains no contact and his bundle keeps every one-time prekey.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IPublishPacket, ISubscribePacket } from 'mqtt-packet';
import { createSodiumCrypto } from '../../crypto/sodium.ts';
import { createIdentity, encryptForPeer, startSession, verifyBundle, type PeerRecord, type VerifiedBundle } from '../../core/index.ts';
import { bundleTopic, inboxTopic } from '../../core/topics.ts';
import type { UserId } from '../../core/user-id.ts';
import { readDaemonState } from './support/daemon-state.ts';
import { damageSessionEnvelope, forgeHandshake, messageTooFarAhead } from './support/forge.ts';
import { connectMallory, type Mallory } from './support/mallory.ts';
import { exchange, startSecNetwork, type SecDaemon, type SecNetwork } from './support/network.ts';
import type { TapEvent } from './support/tcp-tap.ts';

const crypto = await createSodiumCrypto();
let net: SecNetwork;
let alice: SecDaemon;
let bob: SecDaemon;
let xavier: SecDaemon;
let mallory: Mallory;
let acks: BobAcks;

/** Resolves, per payload, when bob has PUBACKed its delivery (he handled it: stored or dropped). */
class BobAcks {
  private readonly inflight = new Map<string, string>();
  private readonly acked = new Set<string>();
  private readonly waiters = new Map<string, Array<() => void>>();

  constructor(private readonly bobId: string) {}

  readonly onEvent = (e: TapEvent): void => {
    if (e.clientId !== this.bobId) return;
    if (e.dir === 'down' && e.packet.cmd === 'publish' && e.packet.messageId !== undefined) {
      this.inflight.set(`${e.conn}/${e.packet.messageId}`, Buffer.from((e.packet as IPublishPacket).payload).toString('hex'));
    } else if (e.dir === 'up' && e.packet.cmd === 'puback') {
      const key = `${e.conn}/${e.packet.messageId}`;
      const payload = this.inflight.get(key);
      if (payload === undefined) return;
      this.inflight.delete(key);
      this.acked.add(payload);
      for (const w of this.waiters.get(payload) ?? []) w();
      this.waiters.delete(payload);
    }
  };

  handled(payload: Uint8Array, timeoutMs = 60_000): Promise<void> {
    const key = Buffer.from(payload).toString('hex');
    if (this.acked.has(key)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('bob never acked a flooded envelope')), timeoutMs);
      this.waiters.set(key, [...(this.waiters.get(key) ?? []), () => (clearTimeout(timer), resolve())]);
    });
  }
}

const firstBundleOf = (d: SecDaemon): Buffer => bundlesOf(d)[0]!;
const bundlesOf = (d: SecDaemon): Buffer[] =>
  net.tap.publishes('up', d.userId).filter((p) => p.topic === bundleTopic(d.userId as UserId) && p.payload.length > 0).map((p) => p.payload);
const verified = (d: SecDaemon, bytes: Uint8Array): VerifiedBundle => verifyBundle(crypto, bytes, d.userId as UserId, Date.now());
const oneTimeIds = (d: SecDaemon, bytes: Uint8Array): string => verified(d, bytes).oneTimePrekeys.map((k) => k.id).join(',');
/** What bob sent (any topic) and which bundles he fetched (subscribed to), from tap seq `from` on. */
const bobPublishes = (from = 0) => net.tap.publishes('up', bob.userId).filter((p) => p.event.seq >= from);
const bobBundleFetches = (from = 0): string[] =>
  net.tap.events.filter((e) => e.seq >= from && e.clientId === bob.userId && e.dir === 'up' && e.packet.cmd === 'subscribe').flatMap((e) => (e.packet as ISubscribePacket).subscriptions.map((s) => s.topic).filter((t) => t.includes('/bundle/')));

/** Publishes forged envelopes to bob's inbox in batches, each batch handled by bob before the next. */
function flood(make: (i: number) => Uint8Array): { stop(): Promise<number> } {
  let running = true;
  let sent = 0;
  const loop = (async () => {
    while (running) {
      let last: Uint8Array | undefined;
      for (let k = 0; k < 20; k++) {
        last = make(sent++);
        await mallory.client.publishAsync(inboxTopic(bob.userId as UserId), Buffer.from(last), { qos: 1 });
      }
      await acks.handled(last!);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return sent;
    },
  };
}

/** The forgeries, by index: a contact or a stranger named, unknown prekey ids or bob's real signed prekey. */
function forgery(bobBundle: VerifiedBundle, i: number): Uint8Array {
  const named = [alice, xavier].map((d) => verified(d, firstBundleOf(d)).identityKey);
  const claimed = i % 3 === 2 ? createIdentity(crypto).keyPair.publicKey : named[i % 3]!;
  const realPrekey = i % 2 === 1;
  return forgeHandshake(crypto, {
    recipientIdentityKey: bobBundle.identityKey,
    claimedIdentityKey: claimed,
    signedPrekeyId: realPrekey ? bobBundle.signedPrekey.id : 0x7f00_0000 + i,
    oneTimePrekeyId: realPrekey ? null : 0x7f00_0000 + i,
  });
}

async function floodOnce(payloads: readonly Uint8Array[]): Promise<void> {
  for (const p of payloads) await mallory.client.publishAsync(inboxTopic(bob.userId as UserId), Buffer.from(p), { qos: 1 });
  for (const p of payloads) await acks.handled(p);
}

beforeAll(async () => {
  net = await startSecNetwork();
  [alice, bob, xavier] = await Promise.all([net.startDaemon('alice'), net.startDaemon('bob'), net.startDaemon('xavier')]);
  for (const d of [alice, bob, xavier]) {
    await net.tap.waitFor((e) => e.clientId === d.userId && e.packet.cmd === 'publish' && e.packet.topic === bundleTopic(d.userId as UserId), `${d.name}'s bundle`);
  }
  acks = new BobAcks(bob.userId);
  net.tap.onEvent(acks.onEvent);
  mallory = await connectMallory(crypto, net.brokerUrl);
}, 60_000);

afterAll(async () => {
  await mallory?.client.endAsync().catch(() => undefined);
  await net?.stop();
});

describe('forged handshakes and damaged envelopes make bob do nothing', () => {
  it('a flood while bob knows nobody: acked, and not a single publish, fetch or contact', async () => {
    const bobBundle = verified(bob, firstBundleOf(bob));
    const from = net.tap.events.length;
    const payloads: Uint8Array[] = [];
    for (let i = 0; i < 150; i++) payloads.push(forgery(bobBundle, i));
    // bob's real one-time prekey ids too: with no key agreement behind them, none may be consumed
    for (const k of bobBundle.oneTimePrekeys.slice(0, 30)) {
      for (const d of [alice, xavier]) {
        payloads.push(forgeHandshake(crypto, { recipientIdentityKey: bobBundle.identityKey, claimedIdentityKey: verified(d, firstBundleOf(d)).identityKey, signedPrekeyId: bobBundle.signedPrekey.id, oneTimePrekeyId: k.id }));
      }
    }
    await floodOnce(payloads);
    expect(bobPublishes(from)).toEqual([]); // no envelope, and no republished bundle: no prekey consumed
    expect(bobBundleFetches(from)).toEqual([]);
    expect(await bob.client.listContacts()).toEqual([]);
  });

  it('(a) during the flood, a genuine lost race ends with the message delivered once, bob never answering the stale handshake', async () => {
    const b0 = firstBundleOf(bob);
    const bobBundle = verified(bob, b0);
    const background = flood((i) => forgery(bobBundle, 1000 + i));
    let forged = 0;
    try {
      // carol (a genuine user) takes every one-time prekey of bob's bundle, one handshake each (on the
      // last-resort PQ prekey: the ten one-time PQ prekeys could not serve a hundred handshakes)
      const carol = createIdentity(crypto);
      let rec: PeerRecord | null = null;
      const lastResortOnly = bobBundle.pq === null ? null : { ...bobBundle.pq, oneTime: [] };
      const fromCarol: Uint8Array[] = bobBundle.oneTimePrekeys.map((k) => {
        const sent = encryptForPeer(crypto, carol, startSession(crypto, carol, rec, { ...bobBundle, oneTimePrekeys: [k], pq: lastResortOnly }, Date.now()), { kind: 'message', body: new Uint8Array(8), contentType: 'text/plain' }, Date.now());
        rec = sent.next; // one transcript across her sessions, as her daemon would keep
        return sent.envelope;
      });
      await floodOnce(fromCarol);
      await net.tap.waitFor(() => bundlesOf(bob).some((b) => verified(bob, b).oneTimePrekeys.length === 0), "bob's bundle without one-time prekeys");
      expect((await bob.client.listContacts()).map((c) => c.userId)).toEqual([carol.userId]);

      // the relay serves alice the older bundle (a lagging broker): whatever prekey she picks is taken
      const topic = bundleTopic(bob.userId as UserId);
      net.tap.setRewriter((packet, info) =>
        info.dir === 'down' && info.clientId === alice.userId && packet.cmd === 'publish' && packet.topic === topic ? ({ ...packet, payload: Buffer.from(b0) } as IPublishPacket) : undefined,
      );
      const from = net.tap.events.length;
      let messageId: string;
      try {
        ({ messageId } = await alice.client.send({ to: bob.userId, body: 'alice lost the race' }));
      } finally {
        net.tap.setRewriter(undefined);
      }
      expect(net.tap.events.some((e) => e.seq >= from && e.action === 'rewritten')).toBe(true);
      await bob.log.until(() => bob.log.texts(alice.userId).length > 0, 'alice arrives on a fresh session of hers', 60_000);
      await alice.log.until(() => alice.log.delivered(messageId), 'delivered', 60_000);
      expect(bob.log.texts(alice.userId)).toEqual(['alice lost the race']);
      // bob fetched no bundle and started no session towards alice: his only envelopes to her are
      // replies on the session she started
      expect(bobBundleFetches(from)).toEqual([]);
      expect(bobPublishes(from).filter((p) => p.topic === inboxTopic(alice.userId as UserId) && (p.payload[1] === 0x02 || p.payload[1] === 0x04))).toEqual([]);
      // alice's fresh (PQXDH) session took a one-time PQ prekey: wait for bob's debounced republish
      // here, so the next test does not count it
      const pqLeft = (b: Uint8Array): number => verified(bob, b).pq?.oneTime.length ?? 0;
      const drained = bundlesOf(bob).find((b) => verified(bob, b).oneTimePrekeys.length === 0)!;
      await net.tap.waitFor(() => bundlesOf(bob).some((b) => pqLeft(b) < pqLeft(drained)), "bob's bundle without alice's one-time PQ prekey");
    } finally {
      forged = await background.stop();
    }
    console.info(JSON.stringify({ forgedDuringRace: forged }));
    expect(forged).toBeGreaterThanOrEqual(20); // at least one batch was handled meanwhile
  }, 120_000);

  it('a flood while alice is a contact, with the relay damaging her session envelopes: not a single publish, fetch or contact', async () => {
    await exchange(alice, bob, 'on the session');
    await exchange(bob, alice, 'answered');
    await exchange(alice, bob, 'session kind now');
    const hers = net.tap.publishes('up', alice.userId).filter((p) => p.topic === inboxTopic(bob.userId as UserId) && p.payload[1] === 0x01).map((p) => p.payload);
    expect(hers.length).toBeGreaterThan(0);
    const bobBundle = verified(bob, bundlesOf(bob).at(-1)!);
    const contacts = (await bob.client.listContacts()).map((c) => c.userId).sort();
    const from = net.tap.events.length;
    await floodOnce(Array.from({ length: 150 }, (_, i) => forgery(bobBundle, 5000 + i)));
    for (let i = 0; i < 30; i++) {
      const ack = await net.tap.injectToClient(bob.userId, inboxTopic(bob.userId as UserId), damageSessionEnvelope(hers[i % hers.length]!, 'header', 13 * i));
      expect(ack.packet.cmd).toBe('puback');
    }
    expect(bobPublishes(from)).toEqual([]);
    expect(bobBundleFetches(from)).toEqual([]);
    expect((await bob.client.listContacts()).map((c) => c.userId).sort()).toEqual(contacts);
  });

  it('(b) during the flood, an authenticated reset (alice too far ahead) still goes through', async () => {
    const bobBundle = verified(bob, bundlesOf(bob).at(-1)!);
    // alice's own keys make the message (read from her stopped data dir): the relay could not
    await net.stopDaemon(alice);
    const state = await readDaemonState(crypto, alice.dataDir);
    await net.startDaemon('alice');
    const far = messageTooFarAhead(crypto, state.identity, state.peers.get(bob.userId)!, Date.now());
    const background = flood((i) => forgery(bobBundle, 9000 + i));
    let forged = 0;
    try {
      await floodOnce(Array.from({ length: 60 }, (_, i) => forgery(bobBundle, 3 * i + 2))); // 60 strangers named
      const from = net.tap.events.length;
      await mallory.client.publishAsync(inboxTopic(bob.userId as UserId), Buffer.from(far), { qos: 1 });
      await net.tap.waitFor(
        (e) => e.seq >= from && e.clientId === bob.userId && e.dir === 'up' && e.packet.cmd === 'publish' && e.packet.topic === inboxTopic(alice.userId as UserId) && [0x02, 0x04].includes(Buffer.from(e.packet.payload)[1]!),
        "bob's reset to alice",
        60_000,
      );
      expect(bobBundleFetches(from)).toEqual([bundleTopic(alice.userId as UserId)]);
      await exchange(bob, alice, 'on the reset session');
      await exchange(alice, bob, 'and back');
    } finally {
      forged = await background.stop();
    }
    console.info(JSON.stringify({ forgedDuringReset: forged }));
    expect(forged).toBeGreaterThanOrEqual(20);
  }, 120_000);

  it('over the whole run: bob wrote only to alice and carol, fetched only alice\'s bundle once, and xavier lost nothing', async () => {
    const carol = (await bob.client.listContacts()).map((c) => c.userId).find((id) => id !== alice.userId)!;
    const inboxes = new Set(bobPublishes().filter((p) => p.topic.includes('/inbox/')).map((p) => p.topic));
    expect([...inboxes].sort()).toEqual([inboxTopic(alice.userId as UserId), inboxTopic(carol as UserId)].sort());
    expect(bobBundleFetches()).toEqual([bundleTopic(alice.userId as UserId)]);
    expect((await bob.client.listContacts()).map((c) => c.userId).sort()).toEqual([alice.userId, carol].sort());
    expect(await xavier.client.listContacts()).toEqual([]);
    const x0 = oneTimeIds(xavier, firstBundleOf(xavier));
    for (const b of bundlesOf(xavier)) expect(oneTimeIds(xavier, b)).toBe(x0);
    expect(net.tap.publishes('up').filter((p) => p.topic === inboxTopic(xavier.userId as UserId))).toEqual([]);
  });
});
