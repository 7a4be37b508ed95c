/**
 * How `ratchetd ctl` prints API results: one JSON object per line. Keys are hex; a body is shown
 * as `text` when it is valid UTF-8 and as `bodyBase64` otherwise.
 */
import type { Contact, GroupInfo, Identity, Status } from '../api/backend.ts';
import type { ApiEvent } from '../api/client.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function bodyFields(body: Uint8Array): { text: string } | { bodyBase64: string } {
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(body) };
  } catch {
    return { bodyBase64: Buffer.from(body).toString('base64') };
  }
}

export function identityJson(i: Identity): Record<string, unknown> {
  return { userId: i.userId, identityKey: hex(i.identityKey), fingerprint: i.fingerprint };
}

export function contactJson(c: Contact): Record<string, unknown> {
  return {
    userId: c.userId,
    trust: c.trust,
    safetyNumber: c.safetyNumber,
    identityKey: hex(c.identityKey),
    ...(c.pendingIdentityKey === undefined ? {} : { pendingIdentityKey: hex(c.pendingIdentityKey) }),
  };
}

export function statusJson(s: Status): Record<string, unknown> {
  return { ...s };
}

/** JSON for an event, or undefined for the caught-up marker (not printed). */
export function eventJson(e: ApiEvent): Record<string, unknown> | undefined {
  switch (e.kind) {
    case 'message': {
      const m = e.message;
      return {
        event: 'message',
        messageId: m.messageId,
        from: m.from,
        ...(m.groupId !== undefined ? { groupId: m.groupId } : {}),
        contentType: m.contentType,
        ...bodyFields(m.body),
        sentAt: m.sentAt,
        receivedAt: m.receivedAt,
        cursor: m.cursor,
        ...(m.attachment === undefined
          ? {}
          : { attachment: { attachmentId: m.attachment.attachmentId, fileName: m.attachment.fileName, contentType: m.attachment.contentType, size: m.attachment.size, sha256: hex(m.attachment.sha256) } }),
      };
    }
    case 'fileProgress':
      return { event: 'file_progress', direction: e.direction, messageId: e.messageId, attachmentId: e.attachmentId, peer: e.peer, bytesDone: e.bytesDone, bytesTotal: e.bytesTotal, state: e.state, ...(e.groupId === undefined ? {} : { groupId: e.groupId }), at: e.at };
    case 'delivery':
      return { event: 'delivery', messageId: e.messageId, to: e.to, state: e.state, at: e.at };
    case 'identityChanged':
      return {
        event: 'identity_changed',
        userId: e.userId,
        newIdentityKey: hex(e.newIdentityKey),
        at: e.at,
        hint: `blocked until approved: ratchetd ctl contacts, compare the safety number, then ratchetd ctl verify ${e.userId} NUMBER`,
      };
    case 'groupChanged':
      return { event: 'group_changed', group: groupJson(e.group), removed: e.removed };
    case 'caughtUp':
      return undefined;
  }
}

/** A Group as ctl prints it (camelCase, as the other ctl output). */
export function groupJson(g: GroupInfo): Record<string, unknown> {
  return { groupId: g.groupId, name: g.name, owner: g.owner, members: [...g.members], version: g.version };
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}
