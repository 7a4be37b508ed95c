/**
 * The relay's topic layout. Topics are unauthenticated routing hints: who sent a message is learned
 * only from inside the cryptography.
 *   {prefix}/bundle/{userId}  retained, the user's signed prekey bundle (only the owner publishes)
 *   {prefix}/inbox/{userId}   QoS 1, sealed envelopes for the user (only the owner subscribes)
 */
import type { UserId } from './user-id.ts';
import { isUserId } from './user-id.ts';

export const DEFAULT_TOPIC_PREFIX = 'ratchetd/v1';

export function bundleTopic(userId: UserId, prefix = DEFAULT_TOPIC_PREFIX): string {
  return `${prefix}/bundle/${userId}`;
}

export function inboxTopic(userId: UserId, prefix = DEFAULT_TOPIC_PREFIX): string {
  return `${prefix}/inbox/${userId}`;
}

export type ParsedTopic = { kind: 'bundle' | 'inbox'; userId: UserId } | null;

/** Parses a concrete topic (no wildcards) into its kind and user id, or null. */
export function parseTopic(topic: string, prefix = DEFAULT_TOPIC_PREFIX): ParsedTopic {
  if (!topic.startsWith(prefix + '/')) return null;
  const rest = topic.slice(prefix.length + 1).split('/');
  if (rest.length !== 2) return null;
  const [kind, id] = rest;
  if ((kind !== 'bundle' && kind !== 'inbox') || !isUserId(id)) return null;
  return { kind, userId: id };
}
