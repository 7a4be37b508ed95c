/**
 * The per-recipient queue quota for a cluster (issue 5). The counting quota (queue-quota.ts) keeps a
 * tally per process: with several nodes, node A would count the enqueues it made and never see the
 * PUBACKs that node B cleared, so its tally would only grow. Here the count is Redis' own: every
 * message queued or in flight for a client is one entry of its list `outgoing:{clientId}`
 * (aedes-persistence-redis 12; entries leave on PUBACK), so LLEN is the depth on every node at once.
 *
 * An entry whose packet has expired (message TTL) stays in the list until the client's next CONNECT;
 * so at the limit the list is first pruned of entries whose packet is gone, then counted again.
 * Concurrent publishes on several nodes may pass the check together: like the counting quota, a
 * quota, not an invariant (overshoot ≤ publishes in flight).
 */
import type { Redis } from 'ioredis';
import type { InboxAdmission } from './authorize.ts';

/** aedes-persistence-redis 12's per-client queue list (its `outgoingKey`). */
export function outgoingListKey(clientId: string): string {
  return `outgoing:${encodeURIComponent(clientId)}`;
}

/** Drops list entries whose packet key no longer exists (expired); returns the new length. */
const PRUNE_EXPIRED = `
for _, packetKey in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  if redis.call('EXISTS', packetKey) == 0 then redis.call('LREM', KEYS[1], 0, packetKey) end
end
return redis.call('LLEN', KEYS[1])
`;

export class RedisQueueQuota implements InboxAdmission {
  constructor(
    private readonly redis: Redis,
    private readonly maxQueued: number,
  ) {}

  async admit(recipient: string): Promise<boolean> {
    return (await this.depth(recipient)) < this.maxQueued;
  }

  /** Messages held for `recipient` on all nodes (pruned of expired ones when at the limit). */
  async depth(recipient: string): Promise<number> {
    const key = outgoingListKey(recipient);
    const n = await this.redis.llen(key);
    if (n < this.maxQueued) return n;
    return Number(await this.redis.eval(PRUNE_EXPIRED, 1, key));
  }
}
