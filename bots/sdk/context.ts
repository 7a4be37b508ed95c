/**
 * What a handler gets for one incoming message: the message, its text and command, `reply`, and
 * the sender's trust state. Replies carry an idempotency key derived from the incoming message, so
 * a handler that runs again for the same message (after a failure or a crash before the ack) does
 * not send the same reply twice. They also name that message (reply_to): the daemon then keeps the
 * key only until the message is acked, which the SDK does once the handler, replies included, has
 * succeeded, and after which it never sends the reply again.
 */
import { createHash } from 'node:crypto';
import type { Contact, InboundMessage, TrustState } from '../../daemon/api/backend.ts';
import type { AttachmentInfo } from '../../daemon/engine/types.ts';
import type { SendInput } from '../../daemon/api/client.ts';
import { parseCommand, type ParsedCommand } from './commands.ts';

export interface SendOptions {
  /** MIME type; text bodies default to "text/plain; charset=utf-8". */
  contentType?: string;
  /** Deduplication key (at most 128 printable ASCII characters). */
  idempotencyKey?: string;
}

/** The part of the bot a context needs (kept small so contexts are easy to build in tests). */
export interface ContextServices {
  send(input: SendInput): Promise<{ messageId: string }>;
  listContacts(): Promise<Contact[]>;
  /** A received attachment's bytes (absent in contexts built without a daemon). */
  downloadAttachment?(attachmentId: string, offset?: number): AsyncIterable<Uint8Array>;
}

const MAX_IDEMPOTENCY_KEY = 128;
const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;

/** A text body: content type text/* or none given. */
export function isTextContentType(contentType: string): boolean {
  return contentType === '' || /^text\//i.test(contentType);
}

export class MessageContext {
  readonly message: InboundMessage;
  /** Sender's user id (authenticated by the end-to-end encryption; for a group message, the member's signature). */
  readonly from: string;
  /** The group the message was sent to; undefined for a direct message. */
  readonly groupId: string | undefined;
  /** Whether the body is text (content type text/* or empty). */
  readonly isText: boolean;
  /** The body decoded as UTF-8 when it is text, else "". */
  readonly text: string;
  /** The command, when the text is "/name args…". */
  readonly command: ParsedCommand | undefined;
  /** Aborted when the bot stops and this handler has run past the stop timeout. */
  readonly signal: AbortSignal;
  private readonly services: ContextServices;
  private replies = 0;

  constructor(message: InboundMessage, services: ContextServices, signal: AbortSignal) {
    this.message = message;
    this.from = message.from;
    this.groupId = message.groupId;
    this.isText = isTextContentType(message.contentType);
    this.text = this.isText ? new TextDecoder().decode(message.body) : '';
    this.command = this.isText ? parseCommand(this.text) : undefined;
    this.services = services;
    this.signal = signal;
  }

  /**
   * The file this message carries (name, content type, size, SHA-256), or undefined. The daemon
   * stored and verified the whole file before the message came; it deletes it once the message is
   * acked (after the handler), so read it inside the handler: download() or bytes().
   */
  get attachment(): (AttachmentInfo & { download(): AsyncIterable<Uint8Array>; bytes(): Promise<Uint8Array> }) | undefined {
    const a = this.message.attachment;
    const fetch = this.services.downloadAttachment;
    if (a === undefined) return undefined;
    const download = (): AsyncIterable<Uint8Array> => {
      if (fetch === undefined) throw new Error('this context cannot download attachments');
      return fetch(a.attachmentId);
    };
    return {
      ...a,
      download,
      bytes: async () => {
        const parts: Uint8Array[] = [];
        for await (const p of download()) parts.push(p);
        return Buffer.concat(parts);
      },
    };
  }

  /** Raw body bytes. */
  get body(): Uint8Array {
    return this.message.body;
  }

  get contentType(): string {
    return this.message.contentType;
  }

  /** Command arguments ([] when not a command). */
  get args(): string[] {
    return this.command?.args ?? [];
  }

  /**
   * Answers where the message came from: the group for a group message, else the sender. Text is
   * sent as text/plain; pass bytes with a contentType for anything else.
   */
  reply(body: string | Uint8Array, options: SendOptions = {}): Promise<{ messageId: string }> {
    const index = this.replies++;
    const idempotencyKey = options.idempotencyKey ?? this.replyKey(index, body);
    // The derived key is scoped to this message; a key the handler chose keeps its own lifetime.
    const scoped = options.idempotencyKey === undefined && idempotencyKey !== undefined;
    return this.services.send({
      ...(this.groupId === undefined ? { to: this.from } : { groupId: this.groupId }),
      body,
      ...(scoped ? { replyTo: this.message.messageId } : {}),
      ...(options.contentType === undefined ? {} : { contentType: options.contentType }),
      ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
    });
  }

  /** The sender's trust state now (ListContacts), or undefined when the daemon does not know it. */
  async trust(): Promise<TrustState | undefined> {
    const contacts = await this.services.listContacts();
    return contacts.find((c) => c.userId === this.from)?.trust;
  }

  async isVerified(): Promise<boolean> {
    return (await this.trust()) === 'verified';
  }

  /**
   * "<message id>:r<n>:<hash of the body>": the n-th reply to this message with this body. Same
   * body on a rerun → same key → the daemon sends it once; a different body is a new reply.
   */
  private replyKey(index: number, body: string | Uint8Array): string | undefined {
    const digest = createHash('sha256').update(body).digest('hex').slice(0, 16);
    const key = `${this.message.messageId}:r${index}:${digest}`;
    return key.length <= MAX_IDEMPOTENCY_KEY && PRINTABLE_ASCII.test(key) ? key : undefined;
  }
}
