/**
 * GET /v1/openapi.json matches what the server does: it is a valid OpenAPI 3 document, it lists
 * exactly the routes the server serves (no more, no fewer), and the answers of every route — the
 * successful ones and the errors — validate against the schemas it gives for them.
 */
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv, type ValidateFunction } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileFakeBackend } from './test-file-backend.ts';
import { OPENAPI_PATH } from './server.ts';
import { openSse, startTestHttp, TOKEN, type TestHttp } from './test-support.ts';

interface Operation {
  responses: Record<string, { content?: Record<string, { schema: unknown }> }>;
}
type Doc = { openapi: string; paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, unknown> } };

let http: TestHttp<FileFakeBackend>;
let doc: Doc;
let ajv: Ajv;
beforeAll(async () => {
  http = await startTestHttp({ backend: new FileFakeBackend() });
  doc = (await http.call('GET', OPENAPI_PATH)).json as unknown as Doc;
  ajv = new Ajv({ strict: false, allErrors: true });
  ajv.addFormat('binary', true); // OpenAPI's raw bytes (a file body): any string
  ajv.addSchema(doc as object, 'openapi');
});
afterAll(async () => {
  await http.close();
});

const pointer = (...parts: string[]): string => parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

/** The schema the document gives for this route's answer with this status (or its `default`). */
function validatorFor(method: string, path: string, status: number, mediaType = 'application/json'): ValidateFunction {
  const op = doc.paths[path]?.[method.toLowerCase()];
  if (op === undefined) throw new Error(`the document has no ${method} ${path}`);
  const key = op.responses[String(status)] !== undefined ? String(status) : 'default';
  if (op.responses[key]?.content?.[mediaType] === undefined) throw new Error(`the document gives no ${mediaType} schema for ${method} ${path} ${status}`);
  return ajv.compile({ $ref: `openapi#/${pointer('paths', path, method.toLowerCase(), 'responses', key, 'content', mediaType, 'schema')}` });
}

/** Calls a route and checks its answer against the document. */
async function conforms(status: number, method: string, docPath: string, url: string, body?: unknown, headers?: Record<string, string>): Promise<number> {
  const r = await http.call(method, url, body, headers);
  expect(r.status, `${method} ${url}: ${JSON.stringify(r.json).slice(0, 200)}`).toBe(status);
  const validate = validatorFor(method, docPath, r.status);
  expect(validate(r.json), `${method} ${url} → ${r.status} ${JSON.stringify(r.json).slice(0, 200)}: ${ajv.errorsText(validate.errors)}`).toBe(true);
  return r.status;
}

describe('the OpenAPI document', () => {
  it('is a valid OpenAPI 3 document', async () => {
    const result = await new Validator().validate(doc as unknown as Parameters<Validator['validate']>[0]);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(doc.openapi).toMatch(/^3\./);
  });

  it('lists exactly the routes the server serves', () => {
    const served = http.server.routes().map((r) => r.replace(/:(\w+)/g, '{$1}')).sort();
    const documented = Object.entries(doc.paths)
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    expect(documented).toEqual(served);
    expect(served.length).toBe(15);
  });

  it('describes what every route answers, successes and errors alike', async () => {
    const b = http.backend;
    const peer = b.addPeer();
    const m = b.deliver(peer, 'hello');
    b.deliver(peer, Uint8Array.of(1, 2), 'application/octet-stream');
    await b.addDeadLetter(m, { attempts: 3, lastError: 'HTTP 500', firstAttemptAt: 1 });
    const contact = (await b.listContacts())[0];
    const file = b.deliverFile(peer, Uint8Array.of(1, 2, 3), 'three.bin');
    const fileId = file.attachment?.attachmentId ?? '';
    const raw = { 'content-type': 'application/octet-stream' };
    const alert = { version: '4', status: 'firing', alerts: [{ status: 'firing', labels: { alertname: 'Down' } }] };
    const statuses = [
      await conforms(200, 'GET', '/v1/identity', '/v1/identity'),
      await conforms(200, 'POST', '/v1/messages', '/v1/messages', { to: peer, text: 'hi' }),
      await conforms(400, 'POST', '/v1/messages', '/v1/messages', { to: 'bad', text: 'hi' }),
      await conforms(400, 'POST', '/v1/messages', '/v1/messages', '{oops'),
      await conforms(200, 'GET', '/v1/messages', '/v1/messages?cursor=0&limit=10'),
      await conforms(400, 'GET', '/v1/messages', '/v1/messages?wait=999'),
      await conforms(200, 'POST', '/v1/ack', '/v1/ack', { messageIds: ['nope'] }),
      await conforms(400, 'POST', '/v1/ack', '/v1/ack', { messageIds: [] }),
      await conforms(200, 'GET', '/v1/contacts', '/v1/contacts'),
      await conforms(200, 'POST', '/v1/contacts/{userId}/verify', `/v1/contacts/${peer}/verify`, { safetyNumber: contact?.safetyNumber }),
      await conforms(412, 'POST', '/v1/contacts/{userId}/verify', `/v1/contacts/${peer}/verify`, { safetyNumber: '12' }),
      await conforms(200, 'GET', '/v1/status', '/v1/status'),
      await conforms(200, 'GET', '/v1/dead-letters', '/v1/dead-letters'),
      await conforms(200, 'POST', '/v1/dead-letters/redrive', '/v1/dead-letters/redrive', { messageIds: [m.messageId] }),
      await conforms(200, 'POST', '/v1/alertmanager', `/v1/alertmanager?to=${peer}`, alert),
      await conforms(404, 'POST', '/v1/alertmanager', `/v1/alertmanager?group=${'a'.repeat(26)}`, alert),
      await conforms(400, 'POST', '/v1/alertmanager', `/v1/alertmanager?group=g1`, alert),
      await conforms(200, 'POST', '/v1/grafana', `/v1/grafana?to=${peer}`, { ...alert, version: '1' }),
      await conforms(200, 'GET', '/v1/openapi.json', '/v1/openapi.json'),
      await conforms(401, 'GET', '/v1/status', '/v1/status', undefined, { authorization: 'Bearer nope-nope-nope-nope' }),
      await conforms(413, 'POST', '/v1/messages', '/v1/messages', JSON.stringify({ to: peer, bodyBase64: 'A'.repeat(600_000) })),
      await conforms(200, 'POST', '/v1/files', `/v1/files?to=${peer}&fileName=x.bin`, 'some bytes', raw),
      await conforms(400, 'POST', '/v1/files', `/v1/files?to=${peer}`, 'some bytes', raw),
      await conforms(404, 'GET', '/v1/attachments/{attachmentId}', `/v1/attachments/${'0'.repeat(32)}`),
      await conforms(400, 'GET', '/v1/attachments/{attachmentId}', `/v1/attachments/${fileId}?offset=-1`),
    ];
    expect(new Set(statuses)).toEqual(new Set([200, 400, 401, 404, 412, 413]));
    // the event stream: every event validates against the document's Event schema
    const validateEvent = validatorFor('GET', '/v1/events', 200, 'text/event-stream');
    const sse = await openSse(http.url, '/v1/events');
    const events = await sse.until((e) => e.data['type'] === 'caughtUp');
    b.deliver(peer, 'live');
    events.push(await sse.next());
    sse.close();
    expect(events.map((e) => e.data['type'])).toEqual(['message', 'message', 'message', 'caughtUp', 'message']);
    expect(events.some((e) => (e.data['message'] as Record<string, unknown> | undefined)?.['attachment'] !== undefined)).toBe(true);
    for (const e of events) expect(validateEvent(e.data), ajv.errorsText(validateEvent.errors)).toBe(true);
    // a file's progress event, as the engine emits it, fits the same schema
    expect(validateEvent({ type: 'fileProgress', direction: 'receive', messageId: 'm', attachmentId: fileId, peer, bytesDone: 1, bytesTotal: 3, state: 'transferring', at: 1 }), ajv.errorsText(validateEvent.errors)).toBe(true);
    // the download: its 200 is the bytes, as the document says
    const validateDownload = validatorFor('GET', '/v1/attachments/{attachmentId}', 200, 'application/octet-stream');
    const res = await fetch(`${http.url}/v1/attachments/${fileId}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect([res.status, res.headers.get('content-type')]).toEqual([200, 'application/octet-stream']);
    expect(Buffer.from(await res.arrayBuffer())).toEqual(Buffer.from([1, 2, 3]));
    expect(validateDownload('bytes')).toBe(true);
    const upload = doc.paths['/v1/files']?.['post'] as unknown as { requestBody?: { content?: Record<string, unknown> } };
    expect(Object.keys(upload.requestBody?.content ?? {})).toEqual(['application/octet-stream']);
  });
});
