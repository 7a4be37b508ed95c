/**
 * An in-memory MessengerBackend for the API's tests (not used in production): peers, contacts,
 * an inbox with cursors and acks, idempotent sends, trust changes and a broker switch, with the
 * error codes backend.ts asks the engine to use.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { TrustError } from '../../core/errors.ts';
import type { UserId } from '../../core/user-id.ts';
import type { AttachmentInfo } from '../engine/types.ts';
import type { Contact, DaemonEvent, DeadLetter, DeadLetterInput, GroupInfo, Identity, InboundMessage, MessengerBackend, SendRequest, Status } from './backend.ts';
import { GroupError } from '../../core/group/errors.ts';
import { EngineError } from '../engine/errors.ts';
import { RelayError } from '../relay/errors.ts';

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

export function randomUserId(): UserId {
  return [...randomBytes(32)].map((b) => BASE32[b & 31]).join('') as UserId;
}

function digits(n: number): string {
  return [...randomBytes(n)].map((b) => String(b % 10)).join('');
}

export interface SentRecord {
  to?: UserId;
  groupId?: string;
  body: Uint8Array;
  contentType?: string;
  idempotencyKey?: string;
  replyTo?: string;
  messageId: string;
}

function randomGroupId(): string {
  return [...randomBytes(26)].map((b) => BASE32[b & 31]).join('').replace(/.$/, 'a');
}

export class FakeBackend implements MessengerBackend {
  readonly identity: Identity = { userId: randomUserId(), identityKey: new Uint8Array(randomBytes(32)), fingerprint: digits(30) };
  readonly sent: SentRecord[] = [];
  brokerConnected = true;
  /** When set, every call fails with this error (to test error mapping). */
  failWith: Error | undefined;
  private readonly peers = new Set<UserId>();
  private readonly contacts = new Map<UserId, Contact>();
  private readonly inbox = new Map<string, InboundMessage>();
  private readonly byIdempotencyKey = new Map<string, SentRecord>();
  private readonly listeners = new Set<(e: DaemonEvent) => void>();
  /** Dead letters by message id (the webhook's marks). */
  readonly deadLetters = new Map<string, DeadLetter>();
  private nextCursor = 1;

  /** A user that has published a bundle: sending to it works and makes it a contact. */
  addPeer(userId: UserId = randomUserId()): UserId {
    this.peers.add(userId);
    return userId;
  }

  /** Stores an incoming message and emits it to live subscribers. */
  deliver(from: UserId, body: Uint8Array | string, contentType = 'text/plain; charset=utf-8', groupId?: string, attachment?: AttachmentInfo): InboundMessage {
    this.ensureContact(from);
    const now = Date.now();
    const message: InboundMessage = {
      messageId: randomUUID(),
      from,
      body: typeof body === 'string' ? new TextEncoder().encode(body) : body,
      contentType,
      sentAt: now - 5,
      receivedAt: now,
      cursor: this.nextCursor++,
      ...(groupId !== undefined ? { groupId } : {}),
      ...(attachment !== undefined ? { attachment } : {}),
    };
    this.inbox.set(message.messageId, message);
    this.emit({ kind: 'message', message });
    return message;
  }

  /** The peer's identity key changes: trust becomes `changed` and an alert is emitted. */
  changeIdentity(userId: UserId): Uint8Array {
    const contact = this.ensureContact(userId);
    const newKey = new Uint8Array(randomBytes(32));
    contact.trust = 'changed';
    contact.pendingIdentityKey = newKey;
    contact.safetyNumber = digits(60);
    this.emit({ kind: 'identityChanged', userId, newIdentityKey: newKey, at: Date.now() });
    return newKey;
  }

  get subscriberCount(): number {
    return this.listeners.size;
  }

  private ensureContact(userId: UserId): Contact {
    this.peers.add(userId);
    let contact = this.contacts.get(userId);
    if (contact === undefined) {
      contact = { userId, identityKey: new Uint8Array(randomBytes(32)), trust: 'unverified', safetyNumber: digits(60) };
      this.contacts.set(userId, contact);
    }
    return contact;
  }

  private emit(e: DaemonEvent): void {
    for (const listener of this.listeners) listener(e);
  }

  private check(): void {
    if (this.failWith !== undefined) throw this.failWith;
  }

  async getIdentity(): Promise<Identity> {
    this.check();
    return this.identity;
  }

  /** Groups by id: owned by this backend unless added with addForeignGroup. */
  readonly groups = new Map<string, GroupInfo>();
  /** Groups this backend left. */
  readonly leftGroups = new Set<string>();

  /** A group owned by another user, with this backend a member (to test PERMISSION_DENIED). */
  addForeignGroup(owner: UserId = randomUserId()): GroupInfo {
    const g: GroupInfo = { groupId: randomGroupId(), name: 'theirs', owner, members: [owner, this.identity.userId], version: 1 };
    this.groups.set(g.groupId, g);
    return g;
  }

  private ownedGroup(groupId: string): GroupInfo {
    const g = this.groups.get(groupId);
    if (g === undefined) throw new EngineError('UnknownGroup', `no group ${groupId}`);
    if (g.owner !== this.identity.userId) throw new GroupError('NotGroupOwner', 'only the group owner changes its members');
    return g;
  }

  async createGroup(name: string, members: readonly UserId[]): Promise<GroupInfo> {
    this.check();
    for (const m of members) if (!this.peers.has(m)) throw new EngineError('UnknownPeer', `no bundle published for ${m}`);
    const g: GroupInfo = { groupId: randomGroupId(), name, owner: this.identity.userId, members: [this.identity.userId, ...members], version: 1 };
    this.groups.set(g.groupId, g);
    this.emit({ kind: 'groupChanged', group: { ...g, members: [...g.members] }, removed: false, at: Date.now() });
    return { ...g, members: [...g.members] };
  }

  async addMembers(groupId: string, members: readonly UserId[]): Promise<GroupInfo> {
    this.check();
    const g = this.ownedGroup(groupId);
    const added = members.filter((m) => !g.members.includes(m));
    if (added.length > 0) this.groups.set(groupId, { ...g, members: [...g.members, ...added], version: g.version + 1 });
    return { ...this.groups.get(groupId)! };
  }

  async removeMembers(groupId: string, members: readonly UserId[]): Promise<GroupInfo> {
    this.check();
    const g = this.ownedGroup(groupId);
    const kept = g.members.filter((m) => !members.includes(m));
    if (kept.length !== g.members.length) this.groups.set(groupId, { ...g, members: kept, version: g.version + 1 });
    return { ...this.groups.get(groupId)! };
  }

  async leaveGroup(groupId: string): Promise<void> {
    this.check();
    if (!this.groups.delete(groupId)) throw new EngineError('UnknownGroup', `no group ${groupId}`);
    this.leftGroups.add(groupId);
  }

  /** Group key ids handed out by rotateGroupKey (tests read them). */
  readonly rotations: Array<{ groupId: string; keyId: number }> = [];

  async rotateGroupKey(groupId: string): Promise<{ keyId: number }> {
    this.check();
    if (!this.groups.has(groupId)) throw new EngineError('UnknownGroup', `no group ${groupId}`);
    const keyId = this.rotations.length + 1;
    this.rotations.push({ groupId, keyId });
    return { keyId };
  }

  async listGroups(): Promise<GroupInfo[]> {
    this.check();
    return [...this.groups.values()].map((g) => ({ ...g, members: [...g.members] }));
  }

  async send(req: SendRequest): Promise<{ messageId: string }> {
    this.check();
    if (req.groupId !== undefined) {
      if (this.leftGroups.has(req.groupId)) throw new GroupError('NotGroupMember', 'this daemon left that group');
      if (!this.groups.has(req.groupId)) throw new EngineError('UnknownGroup', `no group ${req.groupId}`);
      const record: SentRecord = { ...req, body: new Uint8Array(req.body), messageId: randomUUID() };
      this.sent.push(record);
      return { messageId: record.messageId };
    }
    if (req.idempotencyKey !== undefined) {
      const previous = this.byIdempotencyKey.get(req.idempotencyKey);
      if (previous !== undefined) {
        const same = previous.to === req.to && Buffer.from(previous.body).equals(Buffer.from(req.body));
        if (!same) throw new EngineError('IdempotencyConflict', 'idempotency key already used for a different message');
        return { messageId: previous.messageId };
      }
    }
    if (!this.peers.has(req.to)) throw new EngineError('UnknownPeer', `no bundle published for ${req.to}`);
    const contact = this.ensureContact(req.to);
    if (contact.trust === 'changed') throw new TrustError('UntrustedIdentity', `identity of ${req.to} changed; approve it with VerifyContact`);
    if (!this.brokerConnected) throw new RelayError('BrokerUnavailable', 'broker unreachable');
    const record: SentRecord = { ...req, body: new Uint8Array(req.body), messageId: randomUUID() };
    this.sent.push(record);
    if (req.idempotencyKey !== undefined) this.byIdempotencyKey.set(req.idempotencyKey, record);
    this.emit({ kind: 'delivery', messageId: record.messageId, to: req.to, state: 'sent', at: Date.now() });
    return { messageId: record.messageId };
  }

  async subscribe(afterCursor: number, onEvent: (e: DaemonEvent) => void): Promise<() => void> {
    this.check();
    const replay = [...this.inbox.values()].filter((m) => m.cursor > afterCursor).sort((a, b) => a.cursor - b.cursor);
    for (const message of replay) onEvent({ kind: 'message', message });
    this.listeners.add(onEvent);
    return () => {
      this.listeners.delete(onEvent);
    };
  }

  async ack(messageIds: readonly string[]): Promise<void> {
    this.check();
    for (const id of messageIds) {
      this.inbox.delete(id);
      this.deadLetters.delete(id);
    }
  }

  /** Unacked messages (test support). */
  unacked(): InboundMessage[] {
    return [...this.inbox.values()];
  }

  async listDeadLetters(limit: number): Promise<{ deadLetters: DeadLetter[]; total: number }> {
    this.check();
    const all = [...this.deadLetters.values()].sort((a, b) => a.cursor - b.cursor);
    return { deadLetters: all.slice(0, limit), total: all.length };
  }

  async redriveDeadLetters(messageIds: readonly string[]): Promise<string[]> {
    this.check();
    const ids = messageIds.length === 0 ? [...this.deadLetters.keys()] : messageIds.filter((id) => this.deadLetters.has(id));
    for (const id of ids) this.deadLetters.delete(id);
    return ids;
  }

  async addDeadLetter(message: Pick<InboundMessage, 'messageId' | 'from'>, info: DeadLetterInput): Promise<void> {
    this.check();
    const m = this.inbox.get(message.messageId);
    if (m === undefined) return;
    this.deadLetters.set(m.messageId, { messageId: m.messageId, from: m.from, cursor: m.cursor, ...info, deadAt: Date.now() });
  }

  async listContacts(): Promise<Contact[]> {
    this.check();
    return [...this.contacts.values()];
  }

  async verifyContact(userId: UserId, safetyNumber: string): Promise<Contact> {
    this.check();
    const contact = this.contacts.get(userId);
    if (contact === undefined) throw new EngineError('UnknownPeer', `${userId} is not a contact`);
    if (contact.safetyNumber !== safetyNumber) throw new EngineError('SafetyNumberMismatch', 'safety number does not match');
    if (contact.pendingIdentityKey !== undefined) {
      contact.identityKey = contact.pendingIdentityKey;
      delete contact.pendingIdentityKey;
    }
    contact.trust = 'verified';
    return contact;
  }

  async getStatus(): Promise<Status> {
    this.check();
    return {
      brokerConnected: this.brokerConnected,
      brokerUrl: 'mqtt://127.0.0.1:1883',
      oneTimePrekeys: 100,
      signedPrekeyAgeMs: 1234,
      outboxDepth: this.sent.length,
      inboxDepth: this.inbox.size,
      contacts: this.contacts.size,
      contactsRefused: 0,
      messagesRefused: 0,
      idempotencyRecords: this.byIdempotencyKey.size,
      deadLetters: this.deadLetters.size,
      webhookPending: 0,
    };
  }
}
