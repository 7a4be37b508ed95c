/**
 * A small typed client for the local API, used by `ratchetd ctl`, the bots SDK and tests. Connects
 * by Unix socket path, or by TCP address with the bearer token; methods return promises with the
 * backend's types (backend.ts); receive() is an async iterator of events. send() goes over one
 * SendStream call shared by every send (send-stream.ts; much cheaper than a unary call per message)
 * unless `sendStream: false`; either way it resolves and fails the same. Failures reject with
 * ApiCallError, which carries the gRPC status and the precise ratchetd error code.
 */
import { resolve } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { MAX_MESSAGE_BODY_BYTES } from '../../core/content.ts';
import type { Contact, DeadLetter, GroupInfo, Identity, Status } from './backend.ts';
import { toCallError } from './call-error.ts';
import { loadMessengerDefinitions } from './proto.ts';
import { StreamSender } from './send-stream.ts';
import { downloadCall, sendFileCall, type SendFileInput } from './file-client.ts';
import { systemTimers, type Timers } from './timers.ts';
import {
  contactFromWire,
  deadLetterFromWire,
  eventFromWire,
  groupFromWire,
  identityFromWire,
  statusFromWire,
  type ApiEvent,
  type WireContact,
  type WireDeadLetter,
  type WireEvent,
  type WireGroup,
  type WireIdentity,
  type WireSendRequest,
  type WireSendStreamResult,
  type WireStatus,
} from './wire.ts';

export type { ApiEvent } from './wire.ts';
export type { SendFileInput } from './file-client.ts';
export { ApiCallError } from './call-error.ts';

export interface ConnectOptions {
  /** Path of the daemon's Unix socket. */
  socketPath?: string;
  /** TCP address `host:port` (instead of socketPath); needs `token`. */
  tcp?: string;
  /** Bearer token for TCP. */
  token?: string;
  /** Deadline of each unary call, and of each send on the SendStream (ms); default 60 s. */
  callTimeoutMs?: number;
  /**
   * send() over one shared SendStream call (default true), opened at the first send and ended
   * after SEND_STREAM_IDLE_MS without a pending send; false: one unary Send call per message.
   */
  sendStream?: boolean;
  /** Test seam: the clock of the SendStream's deadlines and idle time (default: the system's). */
  timers?: Timers;
}

export interface SendInput {
  /** The recipient; exactly one of `to` and `groupId`. */
  to?: string;
  /** A group to send to (Group.groupId) instead of `to`. */
  groupId?: string;
  /** Bytes, or text (sent as UTF-8 with content type text/plain unless one is given). */
  body: Uint8Array | string;
  contentType?: string;
  idempotencyKey?: string;
  /** The message id of the unacked message this answers: scopes idempotencyKey to it (see the proto). */
  replyTo?: string;
}

export interface ReceiveOptions {
  /** Replay only messages after this cursor (default 0: every unacked message). */
  cursor?: number;
  /** Aborting ends the iteration quietly (the stream is cancelled). */
  signal?: AbortSignal;
}

export const TEXT_CONTENT_TYPE = 'text/plain; charset=utf-8';
const DEFAULT_CALL_TIMEOUT_MS = 60_000;
/** A SendStream with no send waiting this long is ended (an open call keeps the process alive). */
export const SEND_STREAM_IDLE_MS = 1_000;
/** Characters of content type, idempotency key and reply_to beyond which a send goes unary (see fitsSendStream). */
const SEND_STREAM_MAX_TEXT = 16_384;

/**
 * A request larger than the daemon's message limit would end the whole SendStream (every send on
 * it would fail with RESOURCE_EXHAUSTED). Such a request is invalid anyway: it goes as a unary Send,
 * which fails alone and with exactly the error the caller would get without the stream.
 */
function fitsSendStream(request: WireSendRequest): boolean {
  return request.body.length <= MAX_MESSAGE_BODY_BYTES && request.content_type.length + request.idempotency_key.length + request.reply_to.length <= SEND_STREAM_MAX_TEXT;
}

type UnaryMethod = (request: object, metadata: grpc.Metadata, options: grpc.CallOptions, callback: (err: grpc.ServiceError | null, response?: unknown) => void) => void;

export class MessengerClient {
  private readonly stub: grpc.Client;
  private readonly token: string | undefined;
  private readonly callTimeoutMs: number;
  private readonly sender: StreamSender | undefined;

  constructor(options: ConnectOptions) {
    let target: string;
    if (options.socketPath !== undefined) target = `unix:${resolve(options.socketPath)}`;
    else if (options.tcp !== undefined) target = options.tcp;
    else throw new Error('connect needs socketPath or tcp');
    const { clientConstructor, service } = loadMessengerDefinitions();
    this.stub = new clientConstructor(target, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': 8 * 1024 * 1024,
      'grpc.enable_channelz': 0, // call statistics nobody reads, paid on every call
    });
    this.token = options.token;
    this.callTimeoutMs = options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    const method = service['SendStream'];
    if (options.sendStream !== false && method !== undefined) {
      const deserialize = method.responseDeserialize as (bytes: Buffer) => WireSendStreamResult;
      this.sender = new StreamSender({
        open: () => this.stub.makeBidiStreamRequest(method.path, (bytes: Buffer) => bytes, deserialize, this.metadata(), {}),
        serialize: method.requestSerialize as (request: { request_id: number; send: WireSendRequest }) => Buffer,
        timeoutMs: this.callTimeoutMs,
        idleMs: SEND_STREAM_IDLE_MS,
        toCallError,
        timers: options.timers ?? systemTimers,
      });
    }
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
    const request: WireSendRequest = {
      to: input.to ?? '',
      group_id: input.groupId ?? '',
      body: text ? Buffer.from(input.body as string, 'utf8') : (input.body as Uint8Array),
      content_type: input.contentType ?? (text ? TEXT_CONTENT_TYPE : ''),
      idempotency_key: input.idempotencyKey ?? '',
      reply_to: input.replyTo ?? '',
    };
    if (this.sender !== undefined && fitsSendStream(request)) return this.sender.send(request);
    const response = await this.unary<{ message_id: string }>('Send', request);
    return { messageId: response.message_id };
  }

  /** Whether a SendStream call is open now (test support). */
  get sendStreamOpen(): boolean {
    return this.sender?.open === true;
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

  /** Dead letters of the webhook, oldest first (at most `limit`, default 1000), and their total. */
  async listDeadLetters(limit = 0): Promise<{ deadLetters: DeadLetter[]; total: number }> {
    const response = await this.unary<{ dead_letters: WireDeadLetter[]; total: number }>('ListDeadLetters', { limit });
    return { deadLetters: response.dead_letters.map(deadLetterFromWire), total: response.total };
  }

  /** Delivers dead letters again (these ids, or all when empty); resolves with the ids re-driven. */
  async redriveDeadLetters(messageIds: readonly string[] = []): Promise<string[]> {
    const response = await this.unary<{ message_ids: string[] }>('RedriveDeadLetters', { message_ids: [...messageIds] });
    return response.message_ids;
  }

  /** Creates a group owned by this daemon with `members` (user ids, this daemon not included). */
  async createGroup(name: string, members: readonly string[]): Promise<GroupInfo> {
    return groupFromWire(await this.unary<WireGroup>('CreateGroup', { name, members: [...members] }));
  }

  async addMembers(groupId: string, members: readonly string[]): Promise<GroupInfo> {
    return groupFromWire(await this.unary<WireGroup>('AddMembers', { group_id: groupId, members: [...members] }));
  }

  async removeMembers(groupId: string, members: readonly string[]): Promise<GroupInfo> {
    return groupFromWire(await this.unary<WireGroup>('RemoveMembers', { group_id: groupId, members: [...members] }));
  }

  async leaveGroup(groupId: string): Promise<void> {
    await this.unary<object>('LeaveGroup', { group_id: groupId });
  }

  /** A new sender key in the group now; the next group message distributes it. */
  async rotateGroupKey(groupId: string): Promise<{ keyId: number }> {
    const r = await this.unary<{ key_id?: number }>('RotateGroupKey', { group_id: groupId });
    return { keyId: r.key_id ?? 0 };
  }

  async listGroups(): Promise<GroupInfo[]> {
    const response = await this.unary<{ groups: WireGroup[] }>('ListGroups', {});
    return (response.groups ?? []).map(groupFromWire);
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

  /**
   * Sends a file: the header, then `source`'s bytes (in requests of at most 1 MiB, with flow
   * control). Resolves with the message id once the daemon has stored the file and its message;
   * `fileProgress` events on receive() tell how far the transfer is.
   */
  sendFile(input: SendFileInput, source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<{ messageId: string }> {
    return sendFileCall(this.stub, this.metadata(), input, source);
  }

  /** A received attachment's bytes from `offset` (ApiCallError NOT_FOUND when there is none). */
  downloadAttachment(attachmentId: string, offset = 0): AsyncGenerator<Uint8Array> {
    return downloadCall(this.stub, this.metadata(), attachmentId, offset);
  }

  /** Closes the channel; a SendStream is ended after answering the sends still waiting on it. */
  close(): void {
    this.sender?.close();
    this.stub.close();
  }
}

export function connectMessenger(options: ConnectOptions): MessengerClient {
  return new MessengerClient(options);
}
