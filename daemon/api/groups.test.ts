/**
 * The group methods over gRPC (a fake backend): requests parsed, results converted, and the
 * contract's status codes — a change by a non-owner PERMISSION_DENIED, an unknown group NOT_FOUND, a
 * send to a group left FAILED_PRECONDITION, both `to` and `group_id` INVALID_ARGUMENT (nothing sent).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { ApiEvent } from './client.ts';
import { rejection, startTestApi, type TestApi } from './test-server.ts';

let api: TestApi;
beforeEach(async () => {
  api = await startTestApi();
});
afterEach(async () => {
  await api.cleanup();
});

const UNKNOWN_GROUP = 'a'.repeat(26);

describe('group methods', () => {
  it('CreateGroup returns the Group (owner included, version 1); ListGroups lists it; duplicates are ignored', async () => {
    const [p1, p2] = [api.backend.addPeer(), api.backend.addPeer()];
    const g = await api.client.createGroup('ops', [p1, p2, p1]);
    expect(g).toMatchObject({ name: 'ops', owner: api.backend.identity.userId, version: 1 });
    expect(g.groupId).toMatch(/^[a-z2-7]{26}$/);
    expect(new Set(g.members)).toEqual(new Set([api.backend.identity.userId, p1, p2]));
    expect(await api.client.listGroups()).toEqual([g]);
    const added = await api.client.addMembers(g.groupId, [api.backend.addPeer()]);
    expect(added.version).toBe(2);
    const removed = await api.client.removeMembers(g.groupId, [p1]);
    expect(removed.members).not.toContain(p1);
    expect(removed.version).toBe(3);
  });

  it('refuses bad input as INVALID_ARGUMENT before the backend sees it', async () => {
    expect((await rejection(api.client.createGroup('x', ['not-a-user']))).code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect((await rejection(api.client.createGroup('n'.repeat(129), []))).code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect((await rejection(api.client.addMembers('nope', [api.backend.addPeer()]))).code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect((await rejection(api.client.addMembers(UNKNOWN_GROUP, []))).code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(api.backend.groups.size).toBe(0);
  });

  it('maps the contract codes: non-owner PERMISSION_DENIED, unknown NOT_FOUND, left FAILED_PRECONDITION', async () => {
    const theirs = api.backend.addForeignGroup();
    const e1 = await rejection(api.client.addMembers(theirs.groupId, [api.backend.addPeer()]));
    expect([e1.code, e1.errorCode]).toEqual([GrpcStatus.PERMISSION_DENIED, 'NotGroupOwner']);
    expect((await rejection(api.client.removeMembers(theirs.groupId, [theirs.owner]))).code).toBe(GrpcStatus.PERMISSION_DENIED);
    const e2 = await rejection(api.client.send({ groupId: UNKNOWN_GROUP, body: 'x' }));
    expect([e2.code, e2.errorCode]).toEqual([GrpcStatus.NOT_FOUND, 'UnknownGroup']);
    expect((await rejection(api.client.leaveGroup(UNKNOWN_GROUP))).code).toBe(GrpcStatus.NOT_FOUND);
    expect((await rejection(api.client.rotateGroupKey(UNKNOWN_GROUP))).code).toBe(GrpcStatus.NOT_FOUND);
    expect(await api.client.rotateGroupKey(theirs.groupId)).toEqual({ keyId: 1 });
    expect(api.backend.rotations).toEqual([{ groupId: theirs.groupId, keyId: 1 }]);
    await api.client.leaveGroup(theirs.groupId);
    const e3 = await rejection(api.client.send({ groupId: theirs.groupId, body: 'x' }));
    expect([e3.code, e3.errorCode]).toEqual([GrpcStatus.FAILED_PRECONDITION, 'NotGroupMember']);
    expect(api.backend.sent).toEqual([]);
  });

  it('Send with group_id goes to the group, never to `to`; both set is refused and sends nothing', async () => {
    const peer = api.backend.addPeer();
    const g = await api.client.createGroup('g', [peer]);
    const e = await rejection(api.client.send({ to: peer, groupId: g.groupId, body: 'x' }));
    expect(e.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(api.backend.sent).toEqual([]);
    const { messageId } = await api.client.send({ groupId: g.groupId, body: 'hello group' });
    expect(api.backend.sent).toEqual([expect.objectContaining({ messageId, groupId: g.groupId })]);
    expect(api.backend.sent[0]!.to).toBeUndefined();
  });

  it('Receive carries group_id on group messages and group_changed events', async () => {
    const peer = api.backend.addPeer();
    api.backend.deliver(peer, 'direct');
    api.backend.deliver(peer, 'to the group', 'text/plain', UNKNOWN_GROUP);
    const events: ApiEvent[] = [];
    const ac = new AbortController();
    const reading = (async () => {
      for await (const e of api.client.receive({ signal: ac.signal })) {
        events.push(e);
        if (events.some((x) => x.kind === 'groupChanged')) break;
        if (e.kind === 'caughtUp') void api.client.createGroup('new', [peer]);
      }
    })();
    await reading;
    const messages = events.flatMap((e) => (e.kind === 'message' ? [e.message] : []));
    expect(messages.map((m) => m.groupId)).toEqual([undefined, UNKNOWN_GROUP]);
    const changed = events.find((e) => e.kind === 'groupChanged');
    expect(changed).toMatchObject({ kind: 'groupChanged', removed: false, group: { name: 'new', version: 1, owner: api.backend.identity.userId } });
  });
});
