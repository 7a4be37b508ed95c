/**
 * Until the engine serves groups (phase 2), the schema's group methods answer UNIMPLEMENTED (grpc-js
 * answers so for a method without a handler) and a Send with group_id is refused as UNIMPLEMENTED
 * instead of being sent to `to` as a direct message. The server starts with the new schema.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { loadMessengerDefinitions } from './proto.ts';
import { startTestApi, type TestApi } from './test-server.ts';

let api: TestApi;
beforeEach(async () => {
  api = await startTestApi();
});
afterEach(async () => {
  await api.cleanup();
});

function call(client: grpc.Client, method: string, request: object): Promise<{ code: number; metadata: grpc.Metadata | undefined }> {
  return new Promise((done) => {
    const fn = (client as unknown as Record<string, (r: object, cb: (e: grpc.ServiceError | null) => void) => void>)[method]!;
    fn.call(client, request, (e) => done({ code: e === null ? grpc.status.OK : e.code, metadata: e?.metadata }));
  });
}

describe('groups in the schema, not yet served', () => {
  it('the five group methods are in the service and answer UNIMPLEMENTED', async () => {
    const { clientConstructor, service } = loadMessengerDefinitions();
    for (const m of ['CreateGroup', 'AddMembers', 'RemoveMembers', 'LeaveGroup', 'ListGroups']) expect(Object.keys(service)).toContain(m);
    const client = new clientConstructor(`unix:${api.socketPath}`, grpc.credentials.createInsecure());
    try {
      const id = 'a'.repeat(26);
      expect((await call(client, 'CreateGroup', { name: 'g', members: [] })).code).toBe(grpc.status.UNIMPLEMENTED);
      expect((await call(client, 'AddMembers', { group_id: id, members: [] })).code).toBe(grpc.status.UNIMPLEMENTED);
      expect((await call(client, 'RemoveMembers', { group_id: id, members: [] })).code).toBe(grpc.status.UNIMPLEMENTED);
      expect((await call(client, 'LeaveGroup', { group_id: id })).code).toBe(grpc.status.UNIMPLEMENTED);
      expect((await call(client, 'ListGroups', {})).code).toBe(grpc.status.UNIMPLEMENTED);
    } finally {
      client.close();
    }
  });

  it('Send with group_id is UNIMPLEMENTED and sends nothing, even with `to` set', async () => {
    const { clientConstructor } = loadMessengerDefinitions();
    const client = new clientConstructor(`unix:${api.socketPath}`, grpc.credentials.createInsecure());
    const to = api.backend.addPeer();
    try {
      const r = await call(client, 'Send', { to, group_id: 'a'.repeat(26), body: Buffer.from('hi') });
      expect(r.code).toBe(grpc.status.UNIMPLEMENTED);
      expect(r.metadata?.get('ratchetd-error-code')).toEqual(['Unimplemented']);
      expect(api.backend.sent.length).toBe(0);
      // a direct send still works
      expect((await call(client, 'Send', { to, body: Buffer.from('hi') })).code).toBe(grpc.status.OK);
      expect(api.backend.sent.length).toBe(1);
    } finally {
      client.close();
    }
  });
});
