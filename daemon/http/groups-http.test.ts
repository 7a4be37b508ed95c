/**
 * Groups over the HTTP API (FakeBackend): POST /v1/messages with groupId, the alert intakes with
 * ?group=, group messages and group_changed events in their JSON shapes, and the contract's statuses.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestHttp, type TestHttp } from './test-support.ts';

let http: TestHttp<import('../api/fake-backend.ts').FakeBackend>;
beforeEach(async () => {
  http = await startTestHttp();
});
afterEach(async () => {
  await http.close();
});

const alert = { version: '4', status: 'firing', alerts: [{ status: 'firing', labels: { alertname: 'DiskFull' } }] };

describe('groups over HTTP', () => {
  it('POST /v1/messages with groupId sends to the group, never to `to`; both set is 400 with nothing sent', async () => {
    const g = http.backend.addForeignGroup();
    const r = await http.call('POST', '/v1/messages', { groupId: g.groupId, text: 'hello group' });
    expect(r.status).toBe(200);
    expect(http.backend.sent).toEqual([expect.objectContaining({ groupId: g.groupId, messageId: (r.json as { messageId: string }).messageId })]);
    expect(http.backend.sent[0]!.to).toBeUndefined();
    const both = await http.call('POST', '/v1/messages', { groupId: g.groupId, to: g.owner, text: 'x' });
    expect(both.status).toBe(400);
    expect(http.backend.sent).toHaveLength(1);
  });

  it('unknown group 404, left group 412 (FAILED_PRECONDITION)', async () => {
    const unknown = await http.call('POST', '/v1/messages', { groupId: 'a'.repeat(26), text: 'x' });
    expect([unknown.status, (unknown.json as { errorCode: string }).errorCode]).toEqual([404, 'UnknownGroup']);
    const g = http.backend.addForeignGroup();
    await http.backend.leaveGroup(g.groupId);
    const left = await http.call('POST', '/v1/messages', { groupId: g.groupId, text: 'x' });
    expect([left.status, (left.json as { code: string }).code]).toEqual([412, 'FAILED_PRECONDITION']);
    expect(http.backend.sent).toEqual([]);
  });

  it('POST /v1/alertmanager?group=GROUP sends the notification to the group', async () => {
    const g = http.backend.addForeignGroup();
    const r = await http.call('POST', `/v1/alertmanager?group=${g.groupId}`, alert);
    expect(r.status).toBe(200);
    expect(http.backend.sent).toEqual([expect.objectContaining({ groupId: g.groupId })]);
    expect(new TextDecoder().decode(http.backend.sent[0]!.body)).toContain('DiskFull');
  });

  it('GET /v1/messages shows the groupId of a group message', async () => {
    const g = http.backend.addForeignGroup();
    http.backend.deliver(g.owner, 'in the group', 'text/plain', g.groupId);
    const r = await http.call('GET', '/v1/messages');
    expect((r.json as { messages: { groupId: string; text: string }[] }).messages).toEqual([expect.objectContaining({ groupId: g.groupId, text: 'in the group' })]);
  });
});
