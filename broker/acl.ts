/**
 * The relay's topic ACL, all of it, as pure decisions. `userId` is the authenticated user (the CONNECT
 * proof binds client id = user id).
 *
 *   publish   {prefix}/bundle/{self}   owner only, QoS 1, retained (the signed prekey bundle;
 *                                      an empty payload clears it)
 *   publish   {prefix}/inbox/{anyone}  any authenticated user, QoS 1, not retained
 *   subscribe {prefix}/inbox/{self}    owner only
 *   subscribe {prefix}/bundle/{anyone} any authenticated user, exact user id
 *   everything else, and any filter containing + or #, is refused.
 *
 * QoS 1 only: Aedes dedupes live deliveries by a per-broker counter, so a QoS 0 packet overtaking a
 * QoS 1 one in the enqueue pipeline would withhold the QoS 1 packet (see ordered-enqueue.ts).
 */
import { parseTopic } from '../core/topics.ts';
import type { UserId } from '../core/user-id.ts';

export type AclDecision = { readonly ok: true; readonly kind: 'bundle' | 'inbox'; readonly owner: UserId } | { readonly ok: false; readonly reason: string };

export interface PublishRequest {
  readonly userId: string;
  readonly topic: string;
  readonly qos: number;
  readonly retain: boolean;
  readonly payloadBytes: number;
}

export interface AclOptions {
  readonly topicPrefix: string;
  readonly maxPayloadBytes: number;
}

function refuse(reason: string): AclDecision {
  return { ok: false, reason };
}

function hasWildcard(topic: string): boolean {
  return topic.includes('+') || topic.includes('#');
}

export function decidePublish(req: PublishRequest, opts: AclOptions): AclDecision {
  if (hasWildcard(req.topic)) return refuse('wildcard in topic');
  if (req.payloadBytes > opts.maxPayloadBytes) return refuse('payload too large');
  const t = parseTopic(req.topic, opts.topicPrefix);
  if (t === null) return refuse('topic outside the relay layout');
  if (req.qos !== 1) return refuse('QoS 1 only');
  if (t.kind === 'bundle') {
    if (t.userId !== req.userId) return refuse("another user's bundle");
    if (!req.retain) return refuse('bundles must be retained');
    return { ok: true, kind: 'bundle', owner: t.userId };
  }
  if (req.retain) return refuse('inbox messages must not be retained');
  if (req.payloadBytes === 0) return refuse('empty inbox message');
  return { ok: true, kind: 'inbox', owner: t.userId };
}

export function decideSubscribe(userId: string, topicFilter: string, opts: Pick<AclOptions, 'topicPrefix'>): AclDecision {
  if (hasWildcard(topicFilter)) return refuse('wildcard subscription');
  const t = parseTopic(topicFilter, opts.topicPrefix);
  if (t === null) return refuse('topic outside the relay layout');
  if (t.kind === 'inbox' && t.userId !== userId) return refuse("another user's inbox");
  return { ok: true, kind: t.kind, owner: t.userId };
}

/**
 * Defence in depth at delivery: a client only ever receives its own inbox and bundles. Subscriptions
 * are already checked, so this refuses only if a rule above is ever loosened by mistake.
 */
export function mayReceive(userId: string, topic: string, opts: Pick<AclOptions, 'topicPrefix'>): boolean {
  const t = parseTopic(topic, opts.topicPrefix);
  if (t === null) return false;
  return t.kind === 'bundle' || t.userId === userId;
}
