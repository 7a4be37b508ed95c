/**
 * createDaemon(config) → { start, close, backend }: the per-user daemon around the protocol core.
 * `backend` implements DaemonApi (types.ts), the engine's offer to its adapters: the gRPC server
 * (daemon/api/) adapts to it. Only the CLI reads argv, installs signal handlers or exits.
 *
 * start: open the store and every part (engine.ts), maintain prekeys, connect to the relay (waiting
 * at most timing.connectWaitMs; offline is not fatal: the relay client keeps retrying), publish the
 * bundle, start the timers. close: stop timers, close the relay, let in-flight work finish, close
 * the store.
 */
import type { Contact, DaemonEvent, DeadLetterInput, Identity, DaemonApi, InboundMessage, SendFileRequest, SendRequest, Status, SubscribeOptions } from './types.ts';
import { EngineError } from './errors.ts';
import type { UserId } from '../../core/user-id.ts';
import { DEFAULT_TIMING, type DaemonConfig, type EngineTiming } from './config.ts';
import { forgetIdleContacts } from './contact-retention.ts';
import { INBOUND } from './context.ts';
import { openEngine, type Engine } from './engine.ts';
import { engineMetrics, type EngineMetrics } from './engine-metrics.ts';
import { HealthSignal, type HealthSource } from './health.ts';
import { KeyedLock } from './keyed-lock.ts';
import { errCode } from './sender.ts';
import { Transaction } from './transaction.ts';
import { verifyContact } from './trust.ts';

export interface Daemon {
  start(): Promise<{ userId: UserId }>;
  close(): Promise<void>;
  readonly backend: DaemonApi;
  /** Running and connected to the relay, with change notifications (health checks). */
  readonly health: HealthSource;
  /** The engine's counters and gauges now, or undefined before its store is open (metrics). */
  metrics(): EngineMetrics | undefined;
}

type Phase = 'new' | 'starting' | 'running' | 'failed' | 'closing' | 'closed';

export function createDaemon(config: DaemonConfig): Daemon {
  const log = config.logger;
  const now = config.clock ?? Date.now;
  const timing: EngineTiming = { ...DEFAULT_TIMING, ...config.timing, outbox: { ...DEFAULT_TIMING.outbox, ...config.timing?.outbox } };
  let phase: Phase = 'new';
  let engine: Engine | undefined;
  let maintenanceTimer: NodeJS.Timeout | undefined;
  let skippedKeyTimer: NodeJS.Timeout | undefined;
  let starting: Promise<unknown> | undefined;
  const inflight = new Set<Promise<unknown>>();
  const ackLock = new KeyedLock();
  const health = new HealthSignal(
    () => phase === 'running' && engine?.ctx.relay.connected === true,
    (err) => log.error({ err }, 'a health listener threw'),
  );

  /** Runs an API call against the running engine; tracked so close() waits for it. */
  function api<T>(fn: (e: Engine) => Promise<T>): Promise<T> {
    if (phase !== 'running' || engine === undefined) return Promise.reject(new EngineError('NotReady', 'the daemon is not running'));
    const p = fn(engine);
    inflight.add(p);
    const done = (): void => {
      inflight.delete(p);
    };
    p.then(done, done);
    return p;
  }

  async function goOnline(e: Engine): Promise<void> {
    const { ctx } = e;
    ctx.relay.onStatus((s) => {
      health.update();
      if (s !== 'connected' || phase === 'closing' || phase === 'closed') return;
      ctx.outbox.resendUnacknowledged();
      ctx.prekeys.publishIfNeeded().catch((err: unknown) => log.warn({ code: errCode(err) }, 'bundle publish failed'));
      // a restored daemon that started offline starts its fresh sessions as soon as it can
      if (phase === 'running') reestablishRestored(e);
    });
    await ctx.prekeys.maintain();
    ctx.prekeys.markDirty(); // publish a fresh bundle at every start
    ctx.relay.start();
    let timer: NodeJS.Timeout | undefined;
    const connected = await Promise.race([
      ctx.relay.whenConnected().then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timing.connectWaitMs))),
    ]);
    clearTimeout(timer);
    if (connected) {
      // Publish the bundle before reporting ready when the broker answers, but a connection that
      // drops meanwhile is not fatal (the publish is retried on the next connect), and a PUBACK that
      // does not come (a broker that died right after CONNECT) does not hold the start up.
      const published = ctx.prekeys.publishIfNeeded().catch((err: unknown) => {
        log.warn({ code: errCode(err) }, 'start-up bundle publish failed; retried on the next connection');
        return false;
      });
      let wait: NodeJS.Timeout | undefined;
      await Promise.race([published, new Promise((resolve) => (wait = setTimeout(resolve, timing.connectWaitMs)))]);
      clearTimeout(wait);
    } else {
      log.warn({ brokerUrl: config.brokerUrl }, 'broker not reachable yet; running offline and retrying');
    }
    ctx.outbox.start();
    e.groups.start();
    e.files.start();
    void releaseLeftovers(e);
    reestablishRestored(e);
    housekeeping(e);
    maintenanceTimer = setInterval(() => {
      ctx.prekeys.maintain().catch((err: unknown) => log.warn({ code: errCode(err) }, 'prekey maintenance failed'));
      ctx.idempotency.sweep().catch((err: unknown) => log.warn({ code: errCode(err) }, 'idempotency sweep failed'));
      housekeeping(e);
      reestablishRestored(e);
    }, timing.maintenanceMs);
    maintenanceTimer.unref();
    sweepSkippedKeys(e);
    skippedKeyTimer = setInterval(() => sweepSkippedKeys(e), timing.skippedKeySweepMs);
    skippedKeyTimer.unref();
  }

  /** Expires skipped keys of quiet sessions (skipped-key-sweep.ts); tracked so close() waits for it. */
  function sweepSkippedKeys(e: Engine): void {
    const p = e.skippedKeySweep.run().catch((err: unknown) => {
      log.warn({ code: errCode(err) }, 'skipped-key expiry sweep failed');
    });
    inflight.add(p);
    void p.then(() => inflight.delete(p));
  }

  /** Forgets idle unverified contacts (contact-retention.ts); tracked so close() waits for it. */
  function housekeeping(e: Engine): void {
    const p = forgetIdleContacts(e.ctx, timing.contactIdleRetentionMs).catch((err: unknown) => {
      log.warn({ code: errCode(err) }, 'forgetting idle contacts failed');
    });
    inflight.add(p);
    void p.then(() => inflight.delete(p));
  }

  /** After a restore from a backup: fresh sessions with the contacts not yet on one (restored-sessions.ts). */
  function reestablishRestored(e: Engine): void {
    const p = e.restored.run().catch((err: unknown) => {
      log.warn({ code: errCode(err) }, 're-establishing sessions after a restore failed');
    });
    inflight.add(p);
    void p.then(() => inflight.delete(p));
  }

  /**
   * Envelopes still held for contacts that are not (or no longer) blocked: a release interrupted by
   * a crash, or a peer whose corrupt state was repaired. They go through the normal receive path.
   */
  async function releaseLeftovers(e: Engine): Promise<void> {
    for (const peer of e.ctx.quarantine.senders()) {
      try {
        const contact = await e.ctx.contacts.lookup(peer);
        if (contact?.trust === 'changed') continue;
        await e.receiver.releaseQuarantine(peer);
      } catch (err) {
        log.warn({ peer, code: errCode(err) }, 'held envelopes not released');
      }
    }
  }

  async function shutdown(e: Engine): Promise<void> {
    const { ctx } = e;
    if (maintenanceTimer !== undefined) clearInterval(maintenanceTimer);
    if (skippedKeyTimer !== undefined) clearInterval(skippedKeyTimer);
    ctx.outbox.stop();
    ctx.prekeys.close();
    e.receiver.close();
    await e.files.close();
    await e.groups.close();
    await ctx.relay.close();
    await e.restored.close();
    await e.repair.close();
    await e.sender.close();
    await Promise.allSettled([...inflight]);
    await ctx.inboundQueue.run(INBOUND, async () => undefined);
    await ctx.store.close();
  }

  /** The download generator runs against the running engine; close() waits for an open one. */
  async function* downloadFrom(attachmentId: string, offset: number): AsyncGenerator<Uint8Array> {
    if (phase !== 'running' || engine === undefined) throw new EngineError('NotReady', 'the daemon is not running');
    const e = engine;
    let release: () => void = () => undefined;
    const open = new Promise<void>((resolve) => (release = resolve));
    inflight.add(open);
    try {
      yield* e.files.download(attachmentId, offset);
    } finally {
      release();
      inflight.delete(open);
    }
  }

  const backend: DaemonApi = {
    getIdentity: () =>
      api(async (e): Promise<Identity> => ({
        userId: e.ctx.identity.userId,
        identityKey: e.ctx.identity.keyPair.publicKey.slice(),
        fingerprint: e.fingerprint,
      })),
    send: (req: SendRequest) => api((e) => (req.groupId !== undefined ? e.groups.send(req) : e.sender.send(req))),
    createGroup: (name: string, members: readonly UserId[]) => api((e) => e.groups.create(name, members)),
    addMembers: (groupId: string, members: readonly UserId[]) => api((e) => e.groups.change(groupId, { add: members })),
    removeMembers: (groupId: string, members: readonly UserId[]) => api((e) => e.groups.change(groupId, { remove: members })),
    leaveGroup: (groupId: string) => api((e) => e.groups.leave(groupId)),
    rotateGroupKey: (groupId: string) => api((e) => e.groups.rotate(groupId)),
    listGroups: () => api(async (e) => e.groups.list()),
    subscribe: (afterCursor: number, onEvent: (ev: DaemonEvent) => void, options?: SubscribeOptions) =>
      api((e) => {
        const alerts: DaemonEvent[] = e.ctx.contacts.changed().map((c) => ({
          kind: 'identityChanged',
          userId: c.userId,
          newIdentityKey: (c.pendingIdentityKey ?? c.identityKey).slice(),
          at: now(),
        }));
        return e.ctx.inbox.subscribe(afterCursor, onEvent, alerts, options);
      }),
    ack: (messageIds: readonly string[]) =>
      api((e) =>
        ackLock.run('ack', async () => {
          const tx = new Transaction();
          await e.ctx.inbox.ack(tx, messageIds);
          await tx.commit(e.ctx.store, e.ctx.fatal);
        }),
      ),
    listContacts: () =>
      api(async (e): Promise<Contact[]> =>
        e.ctx.contacts
          .all()
          .sort((a, b) => (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0))
          .map((c) => e.ctx.contacts.toApi(c)),
      ),
    verifyContact: (userId: UserId, safetyNumber: string) => api((e) => verifyContact(e.ctx, e.receiver, userId, safetyNumber)),
    getStatus: () =>
      api(async (e): Promise<Status> => ({
        brokerConnected: e.ctx.relay.connected,
        brokerUrl: e.ctx.relay.url ?? config.brokerUrl,
        ...(e.ctx.relay.lastError === undefined || e.ctx.relay.connected ? {} : { brokerError: e.ctx.relay.lastError }),
        oneTimePrekeys: e.ctx.prekeys.oneTimePrekeys,
        signedPrekeyAgeMs: e.ctx.prekeys.signedPrekeyAgeMs(now()),
        outboxDepth: e.ctx.outbox.depth,
        inboxDepth: e.ctx.inbox.depth,
        contacts: e.ctx.contacts.size,
        contactsRefused: e.ctx.contacts.refusedFirstContacts,
        messagesRefused: e.ctx.inbox.refusedMessages,
        idempotencyRecords: e.ctx.idempotency.size + e.ctx.idempotency.replyRecords,
        deadLetters: e.ctx.deadLetters.size,
        webhookPending: 0,
      })),
    listDeadLetters: (limit: number) =>
      api(async (e) => {
        const all = e.ctx.deadLetters.list();
        return { deadLetters: all.slice(0, Math.max(0, limit)), total: all.length };
      }),
    // Under the ack lock: a mark is never written for a message an ack is deleting.
    redriveDeadLetters: (messageIds: readonly string[]) => api((e) => ackLock.run('ack', () => e.ctx.deadLetters.redrive(messageIds))),
    sendFile: (header: SendFileRequest, source: AsyncIterable<Uint8Array>) => api((e) => e.files.send(header, source)),
    downloadAttachment: (attachmentId: string, offset: number) => downloadFrom(attachmentId, offset),
    findAttachment: (attachmentId: string) => api(async (e) => e.files.receiving.attachment(attachmentId)),
    addDeadLetter: (message: Pick<InboundMessage, 'messageId' | 'from'>, info: DeadLetterInput) =>
      api((e) => ackLock.run('ack', () => e.ctx.deadLetters.add(message.messageId, message.from, info))),
  };

  /**
   * A batch did not reach the disk while caches already hold it: stop acking and publishing (the
   * relay is closed), refuse API calls; close() and a restart recover from the disk.
   */
  function fatal(err: unknown): void {
    if (phase === 'failed' || phase === 'closing' || phase === 'closed') return;
    log.fatal({ err }, 'store write failed: the daemon stops working; restart it');
    phase = 'failed';
    health.update();
    void engine?.ctx.relay.close().catch(() => undefined);
    try {
      config.onFatal?.(err);
    } catch (hookErr) {
      log.error({ err: hookErr }, 'onFatal threw');
    }
  }

  async function doStart(): Promise<{ userId: UserId }> {
    try {
      engine = await openEngine(config, timing, now, fatal);
      await goOnline(engine);
      if (phase !== 'starting') throw new EngineError('NotReady', 'closed while starting');
    } catch (err) {
      phase = 'closing';
      if (engine !== undefined) await shutdown(engine).catch(() => undefined);
      phase = 'closed';
      throw err;
    }
    phase = 'running';
    health.update();
    log.info({ userId: engine.ctx.identity.userId }, 'daemon engine started');
    return { userId: engine.ctx.identity.userId };
  }

  return {
    backend,
    health,
    metrics: () => (engine === undefined ? undefined : engineMetrics(engine, now())),
    start() {
      if (phase !== 'new') return Promise.reject(new EngineError('NotReady', 'start() may be called once'));
      phase = 'starting';
      starting = doStart();
      return starting as Promise<{ userId: UserId }>;
    },
    async close() {
      if (phase === 'starting') {
        // doStart sees the phase change, shuts down what it opened and rejects.
        phase = 'closing';
        await starting?.catch(() => undefined);
        return;
      }
      if (phase !== 'running' && phase !== 'failed') {
        if (phase === 'new') phase = 'closed';
        return;
      }
      phase = 'closing';
      health.update();
      if (engine !== undefined) await shutdown(engine);
      phase = 'closed';
    },
  };
}
