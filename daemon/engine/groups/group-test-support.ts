/**
 * Test support for the group engine tests (not a test file): what the members got, waiting for a
 * version, the copies the relay carried, injecting envelopes into an inbox as the relay could, and
 * relay wrappers that drop or hold back a sender's envelopes.
 */
import { utf8 } from '../../../core/bytes.ts';
import { ENVELOPE_KIND_GROUP } from '../../../core/envelope.ts';
import type { UserId } from '../../../core/user-id.ts';
import type { RelayTransport } from '../../relay/transport.ts';
import type { TestDaemon, TestNet } from '../test-support.ts';
import type { InboundMessage } from '../types.ts';

export const groupMessages = (d: TestDaemon, groupId: string): InboundMessage[] => d.log.messages().filter((m) => m.groupId === groupId);
export const groupTexts = (d: TestDaemon, groupId: string): string[] => groupMessages(d, groupId).map((m) => utf8.decode(m.body));

/** Waits until `d` has applied version `version` of the group (or learnt it is out at it). */
export const atVersion = (d: TestDaemon, groupId: string, version: number): Promise<void> =>
  d.log.until((l) => l.events.some((e) => e.kind === 'groupChanged' && e.group.groupId === groupId && e.group.version >= version), `version ${version} at ${d.userId}`);

/** Waits until `d` learnt it is out of the group. */
export const removedFrom = (d: TestDaemon, groupId: string): Promise<void> =>
  d.log.until((l) => l.events.some((e) => e.kind === 'groupChanged' && e.group.groupId === groupId && e.removed), `${d.userId} learns it is out`);

export const waitTexts = (d: TestDaemon, groupId: string, texts: readonly string[], what: string): Promise<void> =>
  d.log.until(() => texts.every((t) => groupTexts(d, groupId).includes(t)), what);

export const isCopy = (envelope: Uint8Array): boolean => envelope[1] === ENVELOPE_KIND_GROUP;

/** Copies (kind 0x03) the relay was given for `to` since index `since` of its log. */
export const copiesTo = (net: TestNet, to: UserId, since = 0): Uint8Array[] =>
  net.hub.published.slice(since).flatMap((p) => (p.to === to && isCopy(p.envelope) ? [p.envelope] : []));

/** Every envelope (pairwise and copies) the relay was given for `to` since `since`. */
export const envelopesTo = (net: TestNet, to: UserId, since = 0): Uint8Array[] => net.hub.published.slice(since).flatMap((p) => (p.to === to ? [p.envelope] : []));

/** Publishes `envelopes` into `to`'s inbox, as the relay (or anyone who can publish there) could. */
export async function inject(net: TestNet, to: UserId, envelopes: readonly Uint8Array[]): Promise<void> {
  const relay = net.hub.transport('relayinjectorrrrrrrrrrrrrrrrrrr2' as UserId);
  relay.onEnvelope(async () => undefined);
  relay.start();
  await relay.whenConnected();
  for (const e of envelopes) await relay.publishEnvelope(to, e);
  await relay.close();
}

/**
 * A sender's transport with a filter on what it publishes: `decide` says, per envelope, whether it
 * goes out now ('pass'), never ('drop': the broker "took" it and lost it), or later ('hold': kept in
 * `held` until `release()`; the publish call resolves at once, as a broker's PUBACK would).
 */
export interface RelayGate {
  decide: (to: UserId, envelope: Uint8Array) => 'pass' | 'drop' | 'hold';
  readonly held: Array<{ to: UserId; envelope: Uint8Array }>;
  readonly dropped: Array<{ to: UserId; envelope: Uint8Array }>;
  wrap(t: RelayTransport): RelayTransport;
  release(): Promise<void>;
}

export function relayGate(): RelayGate {
  let target: RelayTransport | undefined;
  const gate: RelayGate = {
    decide: () => 'pass',
    held: [],
    dropped: [],
    wrap(t) {
      target = t;
      return new Proxy(t, {
        get(obj, prop, receiver) {
          if (prop !== 'publishEnvelope') return Reflect.get(obj, prop, receiver) as unknown;
          return async (to: UserId, envelope: Uint8Array): Promise<void> => {
            const verdict = gate.decide(to, envelope);
            if (verdict === 'drop') gate.dropped.push({ to, envelope: envelope.slice() });
            else if (verdict === 'hold') gate.held.push({ to, envelope: envelope.slice() });
            else return obj.publishEnvelope(to, envelope);
          };
        },
      });
    },
    async release() {
      for (const h of gate.held.splice(0)) await target!.publishEnvelope(h.to, h.envelope);
    },
  };
  return gate;
}

/** Polls `pred` (for state only visible by asking: metrics, stores), failing with `what` after a deadline. */
export async function until(pred: () => boolean | Promise<boolean>, what: string, deadlineMs = 15_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
