/** What the group parts share (created once by Groups), and small helpers between them. */
import type { GroupView } from '../../../core/group/index.ts';
import type { EngineContext } from '../context.ts';
import type { NewInboundMessage } from '../inbox.ts';
import type { Transaction } from '../transaction.ts';
import type { GroupInfo } from '../types.ts';
import type { GroupHeld } from './group-held.ts';
import type { GroupOutbox } from './group-outbox.ts';
import type { GroupPairwiseQueue } from './group-pairwise.ts';
import type { GroupState } from './group-state.ts';

export interface GroupParts {
  readonly ctx: EngineContext;
  readonly state: GroupState;
  readonly pairwise: GroupPairwiseQueue;
  readonly outbox: GroupOutbox;
  readonly held: GroupHeld;
  /** membership changes and contents refused (not from the owner, forged, forked), since start */
  readonly refused: Map<string, number>;
}

export function groupInfo(v: GroupView): GroupInfo {
  return { groupId: v.groupIdText, name: v.name, owner: v.owner, members: [...v.members], version: v.version };
}

/** The group_changed event for this daemon, once tx is durable. */
export function announceGroup(p: GroupParts, tx: Transaction, v: GroupView, removed: boolean): void {
  const group = groupInfo(v);
  const at = p.ctx.now();
  tx.onDurable(() => p.ctx.inbox.publish({ kind: 'groupChanged', group, removed, at }));
}

/** Group messages to store with the batch (the inbox entries of a receive). */
export type Fresh = NewInboundMessage[];
