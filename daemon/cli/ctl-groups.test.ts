/** `ratchetd ctl group …`, `ctl groups`, `ctl send --group`, and groupId on `ctl receive` lines. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../api/test-server.ts';
import { runCli } from './spawn-cli.ts';

let api: TestApi;
beforeEach(async () => {
  api = await startTestApi();
});
afterEach(async () => {
  await api.cleanup();
});

const ctl = (...args: string[]) => runCli(['ctl', '--socket', api.socketPath, ...args]);
const lines = (text: string): Record<string, unknown>[] =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('ratchetd ctl groups', () => {
  it('group create prints the Group as one camelCase JSON line; add, remove, groups, rotate, leave', async () => {
    const [p1, p2, p3] = [api.backend.addPeer(), api.backend.addPeer(), api.backend.addPeer()];
    const created = await ctl('group', 'create', 'ops team', p1, p2);
    expect(created.code).toBe(0);
    const [group] = lines(created.stdout);
    expect(lines(created.stdout)).toHaveLength(1);
    expect(group).toMatchObject({ name: 'ops team', owner: api.backend.identity.userId, version: 1 });
    expect(group!['members']).toEqual(expect.arrayContaining([api.backend.identity.userId, p1, p2]));
    const id = group!['groupId'] as string;
    expect(id).toMatch(/^[a-z2-7]{26}$/);

    expect(lines((await ctl('group', 'add', id, p3)).stdout)[0]).toMatchObject({ groupId: id, version: 2 });
    const removed = lines((await ctl('group', 'remove', id, p1)).stdout)[0]!;
    expect(removed['members']).not.toContain(p1);
    expect(lines((await ctl('groups')).stdout)).toEqual([{ groups: [expect.objectContaining({ groupId: id, version: 3 })] }]);

    const sent = await ctl('send', '--group', id, 'hello', 'all');
    expect(sent.code).toBe(0);
    expect(api.backend.sent).toEqual([expect.objectContaining({ groupId: id, messageId: lines(sent.stdout)[0]!['messageId'] })]);
    expect(new TextDecoder().decode(api.backend.sent[0]!.body)).toBe('hello all');

    expect(lines((await ctl('group', 'rotate', id)).stdout)).toEqual([{ groupId: id, keyId: 1 }]);
    expect(api.backend.rotations).toEqual([{ groupId: id, keyId: 1 }]);
    expect((await ctl('group', 'rotate', id, p2)).code).toBe(2);
    expect(lines((await ctl('group', 'leave', id)).stdout)).toEqual([{}]);
    const after = await ctl('send', '--group', id, 'x');
    expect(after.code).toBe(1);
    expect(after.stderr).toMatch(/FAILED_PRECONDITION/);
  });

  it('a change by a non-owner exits 1 with PERMISSION_DENIED; an unknown group with NOT_FOUND; bad usage exits 2', async () => {
    const theirs = api.backend.addForeignGroup();
    const denied = await ctl('group', 'add', theirs.groupId, api.backend.addPeer());
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/PERMISSION_DENIED/);
    const unknown = await ctl('send', '--group', 'a'.repeat(26), 'x');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/NOT_FOUND/);
    expect((await ctl('group', 'add', theirs.groupId)).code).toBe(2);
    expect((await ctl('group', 'frobnicate', theirs.groupId)).code).toBe(2);
    expect((await ctl('groups', '--group', theirs.groupId)).code).toBe(2);
    expect(api.backend.sent).toEqual([]);
  });

  it('receive lines of group messages carry groupId (direct ones do not)', async () => {
    const peer = api.backend.addPeer();
    const groupId = 'b'.repeat(26);
    api.backend.deliver(peer, 'direct');
    api.backend.deliver(peer, 'in the group', 'text/plain', groupId);
    const got = lines((await ctl('receive')).stdout);
    expect(got.map((l) => [l['text'], l['groupId']])).toEqual([
      ['direct', undefined],
      ['in the group', groupId],
    ]);
  });
});
