/**
 * The message id the API shows is chosen by the sender. A reused id (by the same or another sender)
 * while an earlier message with it is unacked must not orphan the earlier one: each message gets an
 * id unique among unacked messages, each can be acked, and neither acks the other or replays forever.
 * The senders are crafted with the protocol core, which lets them pick the message id.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { toHex } from '../../core/bytes.ts';
import { createIdentity, encryptForPeer, lastSeenBundleVersion, startSession, verifyBundle, type LocalIdentity, type PeerRecord } from '../../core/index.ts';
import type { UserId } from '../../core/user-id.ts';
import type { RelayTransport } from '../relay/transport.ts';
import type { DaemonEvent } from './types.ts';
import { createTestNet, restartTestDaemon, startTestDaemon, text, type TestDaemon, type TestNet } from './test-support.ts';

let net: TestNet;
let bob: TestDaemon;
const transports: RelayTransport[] = [];

beforeEach(async () => {
  net = await createTestNet();
  bob = await startTestDaemon(net);
});
afterEach(async () => {
  for (const t of transports.splice(0)) await t.close();
  bob.unsubscribe();
  await bob.daemon.close();
});

/** A peer that speaks the protocol through the core and picks its own message ids. */
async function craftedPeer(to: UserId): Promise<{ identity: LocalIdentity; send(body: string, messageId: Uint8Array): Promise<void> }> {
  const identity = createIdentity(net.crypto);
  const transport = net.hub.transport(identity.userId);
  transports.push(transport);
  transport.onEnvelope(async () => undefined);
  transport.start();
  await transport.whenConnected();
  const bundle = verifyBundle(net.crypto, (await transport.fetchBundle(to))!, to, Date.now(), lastSeenBundleVersion(null));
  let record: PeerRecord = startSession(net.crypto, identity, null, bundle, Date.now());
  return {
    identity,
    async send(body, messageId) {
      const out = encryptForPeer(net.crypto, identity, record, { kind: 'message', body: text(body), contentType: 'text/plain', messageId }, Date.now());
      record = out.next;
      await transport.publishEnvelope(to, out.envelope);
    },
  };
}

/** The messages a fresh subscription replays (ids and texts). */
async function replay(d: TestDaemon): Promise<string[]> {
  const seen: string[] = [];
  const stop = await d.daemon.backend.subscribe(0, (e: DaemonEvent) => {
    if (e.kind === 'message') seen.push(`${e.message.messageId}=${new TextDecoder().decode(e.message.body)}`);
  });
  stop();
  return seen;
}

describe('inbox: message ids reused by senders', () => {
  it('the same id from one sender and from another: three messages, three ids, each acked on its own', async () => {
    const mallory = await craftedPeer(bob.userId);
    const trent = await craftedPeer(bob.userId);
    const id = net.crypto.randomBytes(16);
    const hex = toHex(id);
    await mallory.send('one', id);
    await mallory.send('two', id);
    await trent.send('three', id);
    await bob.log.until((l) => l.messages().length === 3, 'bob stores all three');

    const [one, two, three] = bob.log.messages();
    expect(one!.messageId).toBe(hex); // the first keeps the sender's id
    expect(two!.messageId).toBe(`${hex}.${two!.cursor}`);
    expect(three!.messageId).toBe(`${hex}.${three!.cursor}`);
    expect((await bob.daemon.backend.getStatus()).inboxDepth).toBe(3);

    await bob.daemon.backend.ack([two!.messageId]);
    expect(await replay(bob)).toEqual([`${hex}=one`, `${three!.messageId}=three`]);
    await bob.daemon.backend.ack([hex]);
    expect(await replay(bob)).toEqual([`${three!.messageId}=three`]);
    await bob.daemon.backend.ack([three!.messageId]);
    expect(await replay(bob)).toEqual([]);
    expect((await bob.daemon.backend.getStatus()).inboxDepth).toBe(0);

    bob = await restartTestDaemon(net, bob); // acks are durable: nothing comes back
    expect(await replay(bob)).toEqual([]);
  });

  it('an id is free again once its message is acked, and a restart keeps disambiguated ids ackable', async () => {
    const mallory = await craftedPeer(bob.userId);
    const id = net.crypto.randomBytes(16);
    const hex = toHex(id);
    await mallory.send('one', id);
    await bob.log.until((l) => l.messages().length === 1, 'the first');
    await mallory.send('two', id);
    await bob.log.until((l) => l.messages().length === 2, 'the second');
    const second = bob.log.messages()[1]!.messageId;
    expect(second).not.toBe(hex);
    bob = await restartTestDaemon(net, bob);
    expect(await replay(bob)).toEqual([`${hex}=one`, `${second}=two`]);
    await bob.daemon.backend.ack([hex]);
    await mallory.send('three', id);
    await bob.log.until((l) => l.texts().includes('three'), 'the third');
    expect(bob.log.messages().at(-1)!.messageId).toBe(hex);
    await bob.daemon.backend.ack([second, hex]);
    expect(await replay(bob)).toEqual([]);
  });
});
