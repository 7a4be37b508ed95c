import { describe, expect, it } from 'vitest';
import { decidePublish, decideSubscribe, mayReceive } from './acl.ts';

const ALICE = 'a'.repeat(32);
const BOB = 'b'.repeat(32);
const P = 'ratchetd/v1';
const opts = { topicPrefix: P, maxPayloadBytes: 1000 };

function pub(userId: string, topic: string, over: Partial<{ qos: number; retain: boolean; payloadBytes: number }> = {}) {
  return decidePublish({ userId, topic, qos: 1, retain: false, payloadBytes: 10, ...over }, opts);
}

describe('publish ACL', () => {
  it('lets anyone authenticated publish QoS 1 to any inbox', () => {
    expect(pub(ALICE, `${P}/inbox/${BOB}`)).toEqual({ ok: true, kind: 'inbox', owner: BOB });
    expect(pub(ALICE, `${P}/inbox/${ALICE}`)).toEqual({ ok: true, kind: 'inbox', owner: ALICE });
  });

  it('refuses inbox messages that are retained, not QoS 1, empty or too large', () => {
    expect(pub(ALICE, `${P}/inbox/${BOB}`, { retain: true }).ok).toBe(false);
    expect(pub(ALICE, `${P}/inbox/${BOB}`, { qos: 0 }).ok).toBe(false);
    expect(pub(ALICE, `${P}/inbox/${BOB}`, { qos: 2 }).ok).toBe(false);
    expect(pub(ALICE, `${P}/inbox/${BOB}`, { payloadBytes: 0 }).ok).toBe(false);
    expect(pub(ALICE, `${P}/inbox/${BOB}`, { payloadBytes: 1000 }).ok).toBe(true);
    expect(pub(ALICE, `${P}/inbox/${BOB}`, { payloadBytes: 1001 })).toEqual({ ok: false, reason: 'payload too large' });
  });

  it('lets only the owner publish its bundle, retained and QoS 1 (an empty payload clears it)', () => {
    expect(pub(ALICE, `${P}/bundle/${ALICE}`, { retain: true })).toEqual({ ok: true, kind: 'bundle', owner: ALICE });
    expect(pub(ALICE, `${P}/bundle/${ALICE}`, { retain: true, payloadBytes: 0 }).ok).toBe(true);
    expect(pub(ALICE, `${P}/bundle/${BOB}`, { retain: true })).toEqual({ ok: false, reason: "another user's bundle" });
    expect(pub(ALICE, `${P}/bundle/${ALICE}`, { retain: false }).ok).toBe(false);
    expect(pub(ALICE, `${P}/bundle/${ALICE}`, { retain: true, qos: 0 }).ok).toBe(false);
  });

  it('refuses everything outside the layout', () => {
    for (const topic of [
      `${P}/other/${BOB}`,
      `${P}/inbox/${BOB}/x`,
      `${P}/inbox/${BOB.toUpperCase()}`,
      `${P}/inbox/short`,
      `${P}/inbox`,
      `other/v1/inbox/${BOB}`,
      `$SYS/broker/x`,
      `${P}/inbox/+`,
      `${P}/#`,
      '',
    ]) {
      expect(pub(ALICE, topic).ok, topic).toBe(false);
    }
  });
});

describe('subscribe ACL', () => {
  it('lets only the owner subscribe to its inbox', () => {
    expect(decideSubscribe(ALICE, `${P}/inbox/${ALICE}`, opts).ok).toBe(true);
    expect(decideSubscribe(ALICE, `${P}/inbox/${BOB}`, opts)).toEqual({ ok: false, reason: "another user's inbox" });
  });

  it('lets anyone subscribe to an exact bundle topic', () => {
    expect(decideSubscribe(ALICE, `${P}/bundle/${BOB}`, opts)).toEqual({ ok: true, kind: 'bundle', owner: BOB });
  });

  it('refuses every wildcard, even one that would match only the own inbox', () => {
    for (const filter of [`${P}/inbox/+`, `${P}/#`, '#', '+/+/inbox/' + ALICE, `${P}/bundle/+`, `${P}/+/${ALICE}`, `${P}/inbox/${ALICE}/#`]) {
      expect(decideSubscribe(ALICE, filter, opts), filter).toEqual({ ok: false, reason: 'wildcard subscription' });
    }
  });

  it('refuses $SYS and other topics', () => {
    expect(decideSubscribe(ALICE, '$SYS/anything', opts).ok).toBe(false);
    expect(decideSubscribe(ALICE, `${P}/inbox/${ALICE}/extra`, opts).ok).toBe(false);
  });

  it('honours a custom prefix', () => {
    const custom = { topicPrefix: 'fleet/x' };
    expect(decideSubscribe(ALICE, `fleet/x/inbox/${ALICE}`, custom).ok).toBe(true);
    expect(decideSubscribe(ALICE, `${P}/inbox/${ALICE}`, custom).ok).toBe(false);
  });
});

describe('delivery check', () => {
  it('delivers only the own inbox and bundles', () => {
    expect(mayReceive(ALICE, `${P}/inbox/${ALICE}`, opts)).toBe(true);
    expect(mayReceive(ALICE, `${P}/bundle/${BOB}`, opts)).toBe(true);
    expect(mayReceive(ALICE, `${P}/inbox/${BOB}`, opts)).toBe(false);
    expect(mayReceive(ALICE, '$SYS/x/new/clients', opts)).toBe(false);
  });
});
