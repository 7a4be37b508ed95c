/**
 * A small typed client for the local API, used by `ratchetd ctl`, the bots SDK and tests. Connects
 * by Unix socket path, or by TCP address with the bearer token; methods return promises with the
 * backend's types (backend.ts); receive() is an async iterator of events. Failures reject with
 * ApiCallError, which carries the gRPC status and the precise ratchetd error code.
 */
import { resolve } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { Contact, Identity, Status } from './backend.ts';
import { loadMessengerDefinitions } from './proto.ts';
import { ERROR_CODE_METADATA_KEY } from './status-codes.ts';
import {
  contactFromWire,
  eventFromWire,
  identityFromWire,
  statusFromWire,
  type ApiEvent,
  type WireContact,
  type WireEvent,
  type WireIdentity,
  type WireStatus,
} from './wire.ts';

export type { ApiEvent } from './wire.ts';

export interface ConnectOptions {
  /** Path of the daemon's Unix socket. */
  socketPath?: string;
  /** TCP address `host:port` (instead of socketPath); needs `token`. */
  tcp?: string;
  /** Bearer token for TCP. */
  token?: string;
  /** Deadline of each unary call (ms); default 60 s. */
  callTimeoutMs?: number;
}

export interface SendInput {
  to: string;
  /** Bytes, or text (sent as UTF-8 with content type text/plain unless one is given). */
  body: Uint8Array | string;
  contentType?: string;
  idempotencyKey?: string;
}

export interface ReceiveOptions {
  /** Replay only messages after this cursor (default 0: every unacked message). */
  cursor?: number;
  /** Aborting ends the iteration quietly (the stream is cancelled). */
  signal?: AbortSignal;
}

export class ApiCallError extends Error {
  /** gRPC status code. */
  readonly code: grpc.status;
  /** gRPC status name, e.g. "INVALID_ARGUMENT". */
  readonly statusName: string;
  /** ratchetd error code from the trailers, e.g. "UntrustedIdentity", when the daemon sent one. */
  readonly errorCode: string | undefined;
  readonly details: string;
  constructor(code: grpc.status, details: string, errorCode: string | undefined) {
    const statusName = grpc.status[code] ?? `STATUS_${code}`;
    super(`${statusName}: ${details}`);
    this.name = 'ApiCallError';
    this.code = code;
    this.statusName = statusName;
    this.errorCode = errorCode;
    this.details = details;
  }
}

export const TEXT_CONTENT_TYPE = 'text/plain; charset=utf-8';
const DEFAULT_CALL_TIMEOUT_MS = 60_000;

function toCallError(e: unknown): Error {
  const err = e as Partial<grpc.ServiceError>;
  if (typeof err.code !== 'number') return e instanceof Error ? e : new Error(String(e));
  const value = err.metadata?.get(ERROR_CODE_METADATA_KEY)[0];
  return new ApiCallError(err.code, err.details ?? err.message ?? '', typeof value === 'string' ? value : undefined);
}

type UnaryMethod = (request: object, metadata: grpc.Metadata, options: grpc.CallOptions, callback: (err: grpc.ServiceError | null, response?: unknown) => void) => void;

export class MessengerClient {
  private readonly stub: grpc.Client;
  private readonly token: string | undefined;
  private readonly callTimeoutMs: number;

  constructor(options: ConnectOptions) {
    let target: string;
    if (options.socketPath !== undefined) target = `unix:${resolve(options.socketPath)}`;
    else if (options.tcp !== undefined) target = options.tcp;
    else throw new Error('connect needs socketPath or tcp');
    const { clientConstructor } = loadMessengerDefinitions();
    this.stub = new clientConstructor(target, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': 8 * 1024 * 1024,
      'grpc.enable_channelz': 0, // call statistics nobody reads, paid on every call
    });
    this.token = options.token;
    this.callTimeoutMs = options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
  }

  private metadata(): grpc.Metadata {
    const metadata = new grpc.Metadata();
    if (this.token !== undefined) metadata.set('authorization', `Bearer ${this.token}`);
    return metadata;
  }

  private unary<Res>(method: string, request: object): Promise<Res> {
    const fn = (this.stub as unknown as Record<string, UnaryMethod>)[method];
    if (fn === undefined) return Promise.reject(new Error(`no method ${method}`));
    return new Promise((done, fail) => {
      fn.call(this.stub, request, this.metadata(), { deadline: Date.now() + this.callTimeoutMs }, (err, response) =>
        err ? fail(toCallError(err)) : done(response as Res),
      );
    });
  }

  /** Resolves when the daemon is reachable, rejects after timeoutMs. */
  waitForReady(timeoutMs: number): Promise<void> {
    return new Promise((done, fail) => {
      this.stub.waitForReady(Date.now() + timeoutMs, (err) => (err ? fail(err) : done()));
    });
  }

  async getIdentity(): Promise<Identity> {
    return identityFromWire(await this.unary<WireIdentity>('GetIdentity', {}));
  }

  async send(input: SendInput): Promise<{ messageId: string }> {
    const text = typeof input.body === 'string';
    const body = text ? Buffer.from(input.body as string, 'utf8') : input.body;
    const response = await this.unary<{ message_id: string }>('Send', {
      to: input.to,
      body,
      content_type: input.contentType ?? (text ? TEXT_CONTENT_TYPE : ''),
      idempotency_key: input.idempotencyKey ?? '',
    });
    return { messageId: response.message_id };
  }

  async ack(messageIds: readonly string[]): Promise<void> {
    await this.unary<object>('Ack', { message_ids: [...messageIds] });
  }

  async listContacts(): Promise<Contact[]> {
    const response = await this.unary<{ contacts: WireContact[] }>('ListContacts', {});
    return response.contacts.map(contactFromWire);
  }

  async verifyContact(userId: string, safetyNumber: string): Promise<Contact> {
    const response = await this.unary<{ contact: WireContact | null }>('VerifyContact', { user_id: userId, safety_number: safetyNumber });
    if (response.contact === null || response.contact === undefined) throw new Error('VerifyContact returned no contact');
    return contactFromWire(response.contact);
  }

  async getStatus(): Promise<Status> {
    return statusFromWire(await this.unary<WireStatus>('GetStatus', {}));
  }

  /**
   * Events: replayed unacked messages, then { kind: 'caughtUp' }, then live events. Ends when the
   * daemon ends the stream, when `signal` aborts, or when the loop breaks; rejects with
   * ApiCallError on a stream failure (e.g. UNAVAILABLE when the daemon shuts down).
   */
  async *receive(options: ReceiveOptions = {}): AsyncGenerator<ApiEvent, void, undefined> {
    const stream = (this.stub as unknown as { Receive: (req: object, md: grpc.Metadata) => grpc.ClientReadableStream<WireEvent> }).Receive(
      { cursor: options.cursor ?? 0 },
      this.metadata(),
    );
    const signal = options.signal;
    const onAbort = (): void => stream.cancel();
    const aborted = (): boolean => signal?.aborted === true;
    if (aborted()) return stream.cancel();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const raw of stream as AsyncIterable<WireEvent>) {
        const event = eventFromWire(raw);
        if (event !== undefined) yield event;
      }
    } catch (e) {
      if (aborted() && (e as Partial<grpc.ServiceError>).code === grpc.status.CANCELLED) return;
      throw toCallError(e);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      stream.cancel();
    }
  }

  close(): void {
    this.stub.close();
  }
}

export function connectMessenger(options: ConnectOptions): MessengerClient {
  return new MessengerClient(options);
}
