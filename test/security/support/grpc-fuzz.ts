/**
 * Malformed local-API traffic against a daemon's Unix socket: random and wrongly typed protobuf
 * bytes to every method, oversized bodies, bad user ids, absurd cursors and safety numbers, and
 * raw garbage (with and without the HTTP/2 preface) on the socket itself. Every unary call ends
 * with a status (the daemon answered); the report says how each absurd Receive ended and how many
 * raw connections the daemon left open; the caller checks those and that nothing changed state.
 */
import { connect } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { Rng } from './fuzz-corpus.ts';

const SERVICE = '/ratchetd.v1.Messenger/';
const UNARY = ['GetIdentity', 'Send', 'Ack', 'ListContacts', 'VerifyContact', 'GetStatus'] as const;

export interface GrpcFuzzReport {
  calls: number;
  /** gRPC status name → count. */
  statuses: Record<string, number>;
  /** Calls that must have failed but returned OK (method: description). */
  acceptedBadSends: string[];
  rawConnections: number;
  /** Raw garbage connections the daemon had not closed after RAW_CLOSE_WAIT_MS. */
  rawConnectionsLeftOpen: number;
  /** Receive calls with absurd cursors: status name, or 'open' if still streaming after RAW_CLOSE_WAIT_MS. */
  receiveOutcomes: string[];
  /** Milliseconds per phase. */
  phaseMs: Record<string, number>;
}

const bytes = (rng: Rng, n: number): Buffer => {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rng() * 256);
  return b;
};

/** protobuf field helpers (wire types 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32). */
const tag = (field: number, wire: number): number[] => [(field << 3) | wire];
const ld = (field: number, payload: Uint8Array): Buffer => {
  const len: number[] = [];
  let n = payload.length;
  do {
    len.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
    n >>>= 7;
  } while (n > 0);
  return Buffer.concat([Buffer.from([...tag(field, 2), ...len]), payload]);
};
const str = (field: number, s: string): Buffer => ld(field, Buffer.from(s, 'utf8'));

function sendRequest(to: string, body: Uint8Array, contentType = '', idem = ''): Buffer {
  return Buffer.concat([str(1, to), ld(2, body), ...(contentType ? [str(3, contentType)] : []), ...(idem ? [str(4, idem)] : [])]);
}

export const BAD_USER_IDS = [
  '',
  'alice',
  'A'.repeat(32),
  'a'.repeat(31),
  'a'.repeat(33),
  '0'.repeat(32),
  '1'.repeat(32),
  'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\u0000',
  '../../../../etc/passwd',
  'ratchetd/v1/inbox/+',
  '#',
  'é'.repeat(32),
  '\u{1F600}'.repeat(16),
  'x'.repeat(100_000),
];

function call(client: grpc.Client, method: string, request: Buffer, report: GrpcFuzzReport): Promise<grpc.status> {
  report.calls++;
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      SERVICE + method,
      (b: Buffer) => b,
      (b: Buffer) => b,
      request,
      new grpc.Metadata(),
      { deadline: Date.now() + 30_000 },
      (err: grpc.ServiceError | null) => {
        const code = err === null ? grpc.status.OK : err.code;
        const name = grpc.status[code] ?? String(code);
        report.statuses[name] = (report.statuses[name] ?? 0) + 1;
        resolve(code);
      },
    );
  });
}

/** How long a raw connection or an absurd Receive may stay open before it counts as left open (a bound, not a pause). */
const RAW_CLOSE_WAIT_MS = 5_000;

/** Writes garbage straight to the socket; resolves true when the daemon closed it, false when it was left open. */
function rawGarbage(socketPath: string, payload: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(socketPath);
    const done = (closedByDaemon: boolean): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(closedByDaemon);
    };
    const timer = setTimeout(() => done(false), RAW_CLOSE_WAIT_MS);
    s.on('error', () => done(true)).on('close', () => done(true));
    s.on('data', () => undefined); // read the daemon's answer (GOAWAY), or 'close' never comes
    s.on('connect', () => s.write(payload, () => s.end()));
  });
}

export async function fuzzGrpc(socketPath: string, rng: Rng, options: { randomCallsPerMethod: number; unknownUserId: string }): Promise<GrpcFuzzReport> {
  const report: GrpcFuzzReport = { calls: 0, statuses: {}, acceptedBadSends: [], rawConnections: 0, rawConnectionsLeftOpen: 0, receiveOutcomes: [], phaseMs: {} };
  let phaseStart = Date.now();
  const phase = (name: string): void => {
    report.phaseMs[name] = Date.now() - phaseStart;
    phaseStart = Date.now();
  };
  const client = new grpc.Client(`unix:${socketPath}`, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': -1 });
  const mustFail = async (what: string, request: Buffer): Promise<void> => {
    if ((await call(client, 'Send', request, report)) === grpc.status.OK) report.acceptedBadSends.push(what);
  };
  try {
    // 1. random bytes as the request of every unary method
    for (const method of UNARY) {
      for (let i = 0; i < options.randomCallsPerMethod; i++) {
        const request = bytes(rng, Math.floor(rng() * 512));
        const code = await call(client, method, request, report);
        if (method === 'Send' && code === grpc.status.OK) report.acceptedBadSends.push(`random bytes #${i}`);
      }
    }
    phase('random');
    // 2. wrong wire types and broken framing
    const wrongTypes: Array<[string, Buffer]> = [
      ['to as varint', Buffer.from([...tag(1, 0), 0x2a, ...ld(2, Buffer.from('x'))])],
      ['body as fixed64', Buffer.concat([str(1, options.unknownUserId), Buffer.from([...tag(2, 1), 1, 2, 3, 4, 5, 6, 7, 8])])],
      ['length past the end', Buffer.from([...tag(1, 2), 0xff, 0xff, 0xff, 0xff, 0x0f, 0x61])],
      ['truncated varint', Buffer.from([...tag(1, 0), 0xff, 0xff])],
      ['field 0', Buffer.from([0x00, 0x01])],
      ['group wire type', Buffer.from([...tag(1, 3), ...tag(1, 4)])],
      ['to repeated 10k times', Buffer.concat(Array.from({ length: 10_000 }, () => str(1, 'a')))],
    ];
    for (const [what, req] of wrongTypes) await mustFail(what, req);
    for (const method of ['Ack', 'VerifyContact', 'GetStatus'] as const) for (const [, req] of wrongTypes) await call(client, method, req, report);
    phase('wireTypes');
    // 3. bodies: empty, one byte over the limit, far over the server's message limit
    await mustFail('empty body', sendRequest(options.unknownUserId, new Uint8Array(0)));
    await mustFail('body over MAX_MESSAGE_BODY_BYTES', sendRequest(options.unknownUserId, new Uint8Array(261_754)));
    await mustFail('5 MB body', sendRequest(options.unknownUserId, new Uint8Array(5 * 1024 * 1024)));
    await mustFail('content type 10 kB', sendRequest(options.unknownUserId, Buffer.from('x'), 'x'.repeat(10_000)));
    await mustFail('content type with controls', sendRequest(options.unknownUserId, Buffer.from('x'), 'text/plain\r\nX: y'));
    await mustFail('idempotency key 10 kB', sendRequest(options.unknownUserId, Buffer.from('x'), '', 'k'.repeat(10_000)));
    phase('bodies');
    // 4. bad user ids everywhere a user id goes; an unknown but well-formed one
    for (const id of BAD_USER_IDS) {
      await mustFail(`to=${JSON.stringify(id.slice(0, 20))}`, sendRequest(id, Buffer.from('hello')));
      await call(client, 'VerifyContact', Buffer.concat([str(1, id), str(2, '12345')]), report);
    }
    await mustFail('unknown peer', sendRequest(options.unknownUserId, Buffer.from('hello')));
    await call(client, 'VerifyContact', Buffer.concat([str(1, options.unknownUserId), str(2, '1'.repeat(60))]), report);
    await call(client, 'VerifyContact', Buffer.concat([str(1, options.unknownUserId), str(2, '9'.repeat(100_000))]), report);
    phase('userIds');
    // 5. Ack with too many, too long and random ids; Receive with absurd cursors
    await call(client, 'Ack', Buffer.concat(Array.from({ length: 1001 }, (_, i) => str(1, `id${i}`))), report);
    await call(client, 'Ack', Buffer.concat([str(1, 'z'.repeat(100_000))]), report);
    await call(client, 'Ack', Buffer.concat(Array.from({ length: 500 }, () => ld(1, bytes(rng, 16)))), report);
    for (const cursor of [Buffer.from([0x08, ...Array<number>(9).fill(0xff), 0x01]), Buffer.from([0x08, 0x80]), Buffer.from('cursor')]) {
      report.calls++;
      await new Promise<void>((resolve) => {
        const stream = client.makeServerStreamRequest(SERVICE + 'Receive', (b: Buffer) => b, (b: Buffer) => b, Buffer.from(cursor), new grpc.Metadata(), {});
        let done = false;
        const end = (outcome: string): void => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          report.receiveOutcomes.push(outcome);
          stream.cancel();
          resolve();
        };
        const timer = setTimeout(() => end('open'), RAW_CLOSE_WAIT_MS);
        stream.on('error', (e: grpc.ServiceError) => end(grpc.status[e.code] ?? String(e.code))).on('end', () => end('ended')).on('data', () => undefined);
      });
    }
    phase('ackReceive');
    // 6. garbage on the socket, with and without a valid HTTP/2 connection preface
    const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
    for (let i = 0; i < 40; i++) {
      const junk = bytes(rng, 1 + Math.floor(rng() * 65_536));
      if (!(await rawGarbage(socketPath, i % 2 === 0 ? junk : Buffer.concat([preface, junk])))) report.rawConnectionsLeftOpen++;
      report.rawConnections++;
    }
    phase('rawSocket');
  } finally {
    client.close();
  }
  return report;
}
