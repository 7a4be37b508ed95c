/**
 * A bot: one connection to one daemon. Register handlers (`on('message')`, `command`), then
 * `start()`; the bot keeps a Receive stream open, reconnecting with backoff and jitter when the
 * daemon goes away (a fresh channel per attempt, so a restarted daemon is picked up at once),
 * hands each message to the router via the dispatcher (which acks only after the handler
 * resolved) and, on `stop()`, stops receiving, lets running handlers finish, flushes acks and
 * closes the channel.
 */
import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import type { Contact, GroupInfo, Identity, InboundMessage, Status } from '../../daemon/api/backend.ts';
import type { ApiEvent, MessengerClient } from '../../daemon/api/client.ts';
import { createBackoff, sleep, type Backoff, type BackoffOptions } from './backoff.ts';
import { CommandRegistry, type CommandSpec } from './commands.ts';
import { MessageContext, type SendOptions } from './context.ts';
import { Dispatcher, type Backlog } from './dispatcher.ts';
import { Listeners, type BotEvents } from './events.ts';
import { errorText, stderrLogger, type BotLogger } from './logger.ts';
import { helpText, routeMessage, type CommandHandler, type RouterDeps } from './router.ts';
import { BotStoppedError, Waiters, type WaitOptions } from './waiters.ts';

export { BotStoppedError, BotTimeoutError, type WaitOptions } from './waiters.ts';

export interface BotOptions {
  /** First lines of the /help reply. */
  description?: string;
  /** Handlers running at once (default 1: messages are handled in the daemon's order). */
  concurrency?: number;
  /** Delays between reconnection attempts (default 250 ms doubling to 30 s, with jitter). */
  reconnect?: BackoffOptions;
  /** Delays before a failed handler runs again (default 1 s doubling to 5 min, with jitter). */
  retry?: BackoffOptions;
  /** Built-in /help and /status (default both on; they apply once the bot has a handler). */
  builtins?: { help?: boolean; status?: boolean };
  /** How long stop() waits for running handlers (default 10 s). */
  stopTimeoutMs?: number;
  logger?: BotLogger;
  /** Source of jitter in [0, 1) (default Math.random). */
  random?: () => number;
}

export type BotState = 'idle' | 'running' | 'stopping' | 'stopped';

/** A file for sendFile / sendFileToGroup: a path, or a name with bytes or an (async) iterable of them. */
export type BotFile = string | { fileName: string; data: Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>; size?: number };

export interface FileSendOptions {
  contentType?: string;
  /** The same key again returns the first message id and sends nothing twice. */
  idempotencyKey?: string;
}

export class Bot {
  readonly identity: Identity;
  readonly userId: string;
  private currentClient: MessengerClient;
  private readonly newClient: () => MessengerClient;
  private readonly listeners = new Listeners<BotEvents>();
  private readonly commands = new CommandRegistry<CommandHandler>();
  private readonly waiters = new Waiters();
  private readonly dispatcher: Dispatcher;
  private readonly router: RouterDeps;
  private readonly reconnect: Backoff;
  private readonly logger: BotLogger;
  private readonly stopController = new AbortController();
  private readonly handlerAbort = new AbortController();
  private description: string | undefined;
  private state: BotState = 'idle';
  private streamAbort: AbortController | undefined;
  private loop: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private firstConnect: Promise<void>;
  private resolveFirstConnect: () => void = () => undefined;
  private startedAt = 0;
  private handled = 0;
  private online = false;

  constructor(client: MessengerClient, newClient: () => MessengerClient, identity: Identity, private readonly options: BotOptions = {}) {
    this.currentClient = client;
    this.newClient = newClient;
    this.identity = identity;
    this.userId = identity.userId;
    this.description = options.description;
    this.logger = options.logger ?? stderrLogger();
    const random = options.random ?? Math.random;
    this.reconnect = createBackoff(options.reconnect ?? {}, { initialDelayMs: 250, maxDelayMs: 30_000 }, random);
    this.firstConnect = new Promise((done) => (this.resolveFirstConnect = done));
    const router: RouterDeps = (this.router = {
      userId: this.userId,
      commands: this.commands,
      messageHandlers: () => this.listeners.list('message'),
      takeWaiter: (ctx) => this.waiters.find(ctx),
      context: (message) => this.context(message),
      description: () => this.description,
      builtins: { help: options.builtins?.help !== false, status: options.builtins?.status !== false },
      statusText: () => this.statusText(),
    });
    this.dispatcher = new Dispatcher({
      route: async (message) => {
        const outcome = await routeMessage(router, message);
        if (outcome === 'consumed') this.handled++;
        return outcome;
      },
      ack: (ids) => this.currentClient.ack(ids),
      concurrency: Math.max(1, options.concurrency ?? 1),
      retry: createBackoff(options.retry ?? {}, { initialDelayMs: 1_000, maxDelayMs: 300_000 }, random),
      onHandlerError: (info) => {
        if (this.listeners.count('handlerError') === 0) {
          this.logger.warn('handler failed; the message stays unacked and is retried', { messageId: info.message.messageId, attempt: info.attempt, retryInMs: info.retryInMs, error: errorText(info.error) });
        }
        this.notify('handlerError', info);
      },
      onAcked: (id) => this.notify('acked', id),
      onAckFailed: (error, ids) => this.logger.warn('ack failed; retried after reconnecting', { count: ids.length, error: errorText(error) }),
    });
  }

  /** The gRPC client in use now (it is replaced after a reconnection). */
  get client(): MessengerClient {
    return this.currentClient;
  }

  /** idle (before start), running, stopping, stopped. */
  get lifecycle(): BotState {
    return this.state;
  }

  /** Whether the Receive stream is open and caught up. */
  get connected(): boolean {
    return this.online;
  }

  /** Messages held by the bot now, by state (not yet acked). */
  get backlog(): Backlog {
    return this.dispatcher.backlog();
  }

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof BotEvents>(event: K, listener: BotEvents[K]): () => void {
    const remove = this.listeners.add(event, listener);
    if (event === 'message') this.dispatcher.redispatchUnclaimed();
    return remove;
  }

  /** Registers `/name`. A string returned by the handler is sent as the reply. */
  command(name: string, handler: CommandHandler): this;
  command(name: string, spec: CommandSpec, handler: CommandHandler): this;
  command(name: string, specOrHandler: CommandSpec | CommandHandler, maybeHandler?: CommandHandler): this {
    const handler = typeof specOrHandler === 'function' ? specOrHandler : maybeHandler;
    if (handler === undefined) throw new TypeError(`command /${name} needs a handler`);
    this.commands.add(name, typeof specOrHandler === 'function' ? {} : specOrHandler, handler);
    this.dispatcher.redispatchUnclaimed();
    return this;
  }

  /** Sets the first lines of the /help reply. */
  describe(text: string): this {
    this.description = text;
    return this;
  }

  /** The /help text as a contact would see it. */
  help(): string {
    return helpText(this.router);
  }

  /** Starts receiving; resolves when the first replay is complete (or when the bot stops first). */
  start(): Promise<void> {
    if (this.state === 'idle') {
      this.state = 'running';
      this.startedAt = Date.now();
      this.loop = this.receiveLoop().catch((e: unknown) => this.logger.error('receive loop failed', { error: errorText(e) }));
    } else if (this.state !== 'running') {
      return Promise.reject(new BotStoppedError());
    }
    return this.firstConnect;
  }

  /** Stops receiving, waits for running handlers (at most stopTimeoutMs), flushes acks, closes. */
  stop(options: { timeoutMs?: number } = {}): Promise<void> {
    this.stopping ??= this.shutdown(options.timeoutMs ?? this.options.stopTimeoutMs ?? 10_000);
    return this.stopping;
  }

  send(to: string, body: string | Uint8Array, options: SendOptions = {}): Promise<{ messageId: string }> {
    return this.currentClient.send({ to, body, ...options });
  }

  /**
   * Sends a file: a path (read as a stream), or a name with bytes or an (async) iterable of them.
   * Resolves once the daemon has stored it and its message; the recipient's message (with
   * `ctx.attachment`) comes once the whole file arrived and verified. `idempotencyKey`: the same
   * key again returns the first message id and sends nothing twice.
   */
  sendFile(to: string, file: BotFile, options: FileSendOptions = {}): Promise<{ messageId: string }> {
    return this.sendFileTo({ to }, file, options);
  }

  /**
   * Sends a file to every member of a group: sealed once by the daemon, each member's copy of the
   * chunks wrapped for it alone; each member's message (with `ctx.attachment` and `groupId`) comes
   * once the whole file arrived and verified there.
   */
  sendFileToGroup(groupId: string, file: BotFile, options: FileSendOptions = {}): Promise<{ messageId: string }> {
    return this.sendFileTo({ groupId }, file, options);
  }

  private sendFileTo(target: { to: string } | { groupId: string }, file: BotFile, options: FileSendOptions): Promise<{ messageId: string }> {
    const extra = {
      ...(options.contentType === undefined ? {} : { contentType: options.contentType }),
      ...(options.idempotencyKey === undefined ? {} : { idempotencyKey: options.idempotencyKey }),
    };
    if (typeof file === 'string') {
      return this.currentClient.sendFile({ ...target, fileName: basename(file), ...extra }, createReadStream(file, { highWaterMark: 256 * 1024 }) as AsyncIterable<Uint8Array>);
    }
    const data = file.data instanceof Uint8Array ? [file.data] : file.data;
    const size = file.data instanceof Uint8Array ? file.data.length : file.size;
    return this.currentClient.sendFile({ ...target, fileName: file.fileName, ...extra, ...(size === undefined ? {} : { size }) }, data);
  }

  /** Sends to every member of a group (encrypted once; the daemon fans out one copy per member). */
  sendToGroup(groupId: string, body: string | Uint8Array, options: SendOptions = {}): Promise<{ messageId: string }> {
    return this.currentClient.send({ groupId, body, ...options });
  }

  /** Creates a group owned by this bot's daemon with `members` (user ids, the bot not included). */
  createGroup(name: string, members: readonly string[]): Promise<GroupInfo> {
    return this.currentClient.createGroup(name, members);
  }

  addMembers(groupId: string, members: readonly string[]): Promise<GroupInfo> {
    return this.currentClient.addMembers(groupId, members);
  }

  removeMembers(groupId: string, members: readonly string[]): Promise<GroupInfo> {
    return this.currentClient.removeMembers(groupId, members);
  }

  leaveGroup(groupId: string): Promise<void> {
    return this.currentClient.leaveGroup(groupId);
  }

  /** A new sender key in the group now (the daemon also rotates at removals, by age and by count). */
  rotateGroupKey(groupId: string): Promise<{ keyId: number }> {
    return this.currentClient.rotateGroupKey(groupId);
  }

  listGroups(): Promise<GroupInfo[]> {
    return this.currentClient.listGroups();
  }

  listContacts(): Promise<Contact[]> {
    return this.currentClient.listContacts();
  }

  verifyContact(userId: string, safetyNumber: string): Promise<Contact> {
    return this.currentClient.verifyContact(userId, safetyNumber);
  }

  getStatus(): Promise<Status> {
    return this.currentClient.getStatus();
  }

  /**
   * The next message that matches (default: any message from someone else), including one that
   * arrived earlier and no handler took. The message is consumed (acked) and not given to
   * handlers. Starts the bot if needed. Rejects with BotTimeoutError after timeoutMs.
   */
  async waitForMessage(match: (ctx: MessageContext) => boolean = () => true, options: WaitOptions = {}): Promise<MessageContext> {
    if (this.state === 'stopping' || this.state === 'stopped') throw new BotStoppedError();
    const buffered = this.dispatcher.takeUnclaimed((m) => m.from !== this.userId && match(this.context(m)));
    if (buffered !== undefined) {
      await this.dispatcher.ackConsumed(buffered.messageId);
      return this.context(buffered);
    }
    if (this.state === 'idle') void this.start();
    return this.waiters.add(match, options);
  }

  private context(message: InboundMessage): MessageContext {
    const services = {
      send: (input: Parameters<MessengerClient['send']>[0]) => this.currentClient.send(input),
      listContacts: () => this.currentClient.listContacts(),
      downloadAttachment: (attachmentId: string, offset?: number) => this.currentClient.downloadAttachment(attachmentId, offset),
    };
    return new MessageContext(message, services, this.handlerAbort.signal);
  }

  private notify<K extends keyof BotEvents>(event: K, ...args: Parameters<BotEvents[K]>): void {
    void this.listeners.emit(event, ...args).then((errors) => {
      for (const e of errors) this.logger.error(`a "${event}" listener threw`, { error: errorText(e) });
    });
  }

  private onEvent(event: ApiEvent): void {
    switch (event.kind) {
      case 'message':
        return this.dispatcher.offer(event.message);
      case 'delivery':
        return this.notify('delivery', { messageId: event.messageId, to: event.to, state: event.state, at: event.at });
      case 'identityChanged':
        return this.notify('identityChanged', { userId: event.userId, newIdentityKey: event.newIdentityKey, at: event.at });
      case 'groupChanged':
        return this.notify('groupChanged', { group: event.group, removed: event.removed });
      case 'caughtUp':
        this.online = true;
        this.resolveFirstConnect();
        return this.notify('connected');
    }
  }

  private async receiveLoop(): Promise<void> {
    let attempt = 0;
    let channelSuspect = false;
    while (this.state === 'running') {
      const stream = new AbortController();
      this.streamAbort = stream;
      let error: Error;
      try {
        if (channelSuspect) this.replaceClient();
        await this.dispatcher.flushAcks();
        for await (const event of this.currentClient.receive({ signal: stream.signal })) {
          if (event.kind === 'caughtUp') attempt = 0;
          this.onEvent(event);
          // Backpressure: stop reading while handlers are far behind (the daemon keeps the messages;
          // if it cuts the stream off as too slow, the reconnection replays them).
          if (event.kind === 'message') await this.dispatcher.room();
        }
        error = new Error('the daemon ended the Receive stream');
      } catch (e) {
        error = e instanceof Error ? e : new Error(String(e));
      }
      this.online = false;
      if (this.state !== 'running') return;
      channelSuspect = true;
      const retryInMs = this.reconnect.delay(attempt++);
      if (this.listeners.count('disconnected') === 0) this.logger.warn('lost the daemon; reconnecting', { error: error.message, retryInMs });
      this.notify('disconnected', { error, retryInMs });
      await sleep(retryInMs, this.stopController.signal);
    }
  }

  private replaceClient(): void {
    const old = this.currentClient;
    this.currentClient = this.newClient();
    old.close();
  }

  private async shutdown(timeoutMs: number): Promise<void> {
    const wasStarted = this.state !== 'idle';
    this.state = 'stopping';
    this.notify('stopping');
    this.stopController.abort();
    this.streamAbort?.abort();
    this.waiters.rejectAll(new BotStoppedError());
    const finished = await this.dispatcher.stop(timeoutMs);
    if (!finished) {
      this.logger.warn('handlers still running at stop; their messages stay unacked', { timeoutMs });
      this.handlerAbort.abort();
    }
    if (wasStarted) await this.loop;
    await this.dispatcher.flushAcks().catch((e: unknown) => this.logger.warn('could not flush acks at stop; those messages will be offered again', { error: errorText(e) }));
    this.currentClient.close();
    this.state = 'stopped';
    this.online = false;
    this.resolveFirstConnect();
  }

  private async statusText(): Promise<string> {
    const since = new Date(this.startedAt).toISOString();
    const lines = [`Online since ${since}; ${this.handled} messages handled.`];
    try {
      const status = await this.currentClient.getStatus();
      lines.push(`Broker ${status.brokerConnected ? 'connected' : 'disconnected'}; inbox ${status.inboxDepth}, outbox ${status.outboxDepth}.`);
    } catch {
      lines.push('Daemon status unavailable right now.');
    }
    return lines.join('\n');
  }
}
