/**
 * An in-process relay for tests: persistent per-user queues with QoS 1 semantics as the mqtt relay
 * gives them (up to DELIVERY_WINDOW envelopes handed to the handler at once; each stays queued until
 * its handler resolved and every earlier one was acked, in order; after a failed handler the
 * connection drops and everything unacked is redelivered), retained bundles, and switches to take a
 * user offline. It keeps every published envelope so tests can look at what "the relay saw".
 */
import { RelayError } from './errors.ts';
import type { UserId } from '../../core/user-id.ts';
import type { EnvelopeHandler, RelayStatus, RelayTransport } from './transport.ts';

interface Queued {
  readonly envelope: Uint8Array;
  /** Handed to the handler on this connection generation (-1: not yet). */
  deliveredOn: number;
  stored: boolean;
}

interface Session {
  queue: Queued[];
  transport: FakeTransport | undefined;
  /** Bumped when the connection drops: late results of an older connection are ignored. */
  generation: number;
  inFlight: number;
}

/** Envelopes handed to a handler before the first is acked (like mqtt-relay's pipelining). */
const DELIVERY_WINDOW = 16;

interface FakeTransport extends RelayTransport {
  deliver(envelope: Uint8Array): Promise<void>;
  drop(): void;
}

export interface FakeRelayHub {
  /** A transport for this user (like a daemon's mqtt client); start() connects it. */
  transport(userId: UserId): RelayTransport;
  /** Every envelope ever published, in publish order. */
  readonly published: ReadonlyArray<{ to: UserId; envelope: Uint8Array }>;
  /** Envelopes queued for a user (published, not yet acked). */
  queued(userId: UserId): number;
  /** Cuts the user's connection (like a broker restart); it reconnects after `reconnect`. */
  disconnect(userId: UserId): void;
  reconnect(userId: UserId): void;
  /** Resolves when no session has queued messages or a delivery in progress (offline users excepted). */
  idle(): Promise<void>;
  /** Bundles (retained). */
  readonly retained: Map<UserId, Uint8Array>;
}

const unavailable = (): RelayError => new RelayError('BrokerUnavailable', 'not connected to the broker');

export function createFakeRelayHub(): FakeRelayHub {
  const sessions = new Map<UserId, Session>();
  const retained = new Map<UserId, Uint8Array>();
  const published: Array<{ to: UserId; envelope: Uint8Array }> = [];
  const idleWaiters = new Set<() => void>();

  const isIdle = (): boolean =>
    [...sessions.values()].every((s) => s.inFlight === 0 && (s.queue.length === 0 || s.transport === undefined || !s.transport.connected));

  const checkIdle = (): void => {
    if (!isIdle()) return;
    for (const w of idleWaiters) w();
    idleWaiters.clear();
  };

  function pump(userId: UserId): void {
    const s = sessions.get(userId);
    if (s === undefined) return;
    const t = s.transport;
    if (t === undefined || !t.connected) {
      checkIdle();
      return;
    }
    // PUBACKs in order: drop the acked head.
    while (s.queue[0]?.stored === true) s.queue.shift();
    let handed = 0;
    for (const q of s.queue) {
      if (handed >= DELIVERY_WINDOW) break;
      handed += 1;
      if (q.deliveredOn === s.generation) continue;
      q.deliveredOn = s.generation;
      q.stored = false;
      s.inFlight += 1;
      const generation = s.generation;
      t.deliver(q.envelope.slice()).then(
        () => {
          s.inFlight -= 1;
          if (generation !== s.generation) return checkIdle();
          q.stored = true;
          setImmediate(() => pump(userId));
        },
        () => {
          s.inFlight -= 1;
          if (generation !== s.generation) return checkIdle();
          // Not stored: the connection drops and everything unacked is redelivered after a reconnect.
          t.drop();
          setImmediate(() => t.start());
        },
      );
    }
    checkIdle();
  }

  function makeTransport(userId: UserId): FakeTransport {
    let handler: EnvelopeHandler | undefined;
    let status: RelayStatus = 'disconnected';
    const listeners: Array<(s: RelayStatus) => void> = [];
    const waiters = new Set<{ resolve(): void; reject(e: unknown): void }>();
    const set = (s: RelayStatus): void => {
      if (status === s || status === 'closed') return;
      status = s;
      for (const l of listeners) l(s);
      if (s === 'connected') {
        for (const w of waiters) w.resolve();
        waiters.clear();
      }
    };
    const t: FakeTransport = {
      onEnvelope(h) {
        handler = h;
      },
      onStatus(l) {
        listeners.push(l);
      },
      start() {
        if (status !== 'disconnected') return;
        const s = sessions.get(userId) ?? { queue: [], transport: undefined, generation: 0, inFlight: 0 };
        sessions.set(userId, s);
        s.transport?.drop();
        s.transport = t;
        set('connected');
        setImmediate(() => pump(userId));
      },
      whenConnected() {
        if (status === 'connected') return Promise.resolve();
        if (status === 'closed') return Promise.reject(unavailable());
        return new Promise((resolve, reject) => waiters.add({ resolve, reject }));
      },
      get connected() {
        return status === 'connected';
      },
      async publishEnvelope(to, envelope) {
        if (status !== 'connected') throw unavailable();
        const copy = envelope.slice();
        published.push({ to, envelope: copy });
        const s = sessions.get(to);
        if (s === undefined) return; // nobody ever subscribed: a real broker drops it too
        s.queue.push({ envelope: copy, deliveredOn: -1, stored: false });
        setImmediate(() => pump(to));
      },
      async fetchBundle(id) {
        if (status !== 'connected') throw unavailable();
        return retained.get(id)?.slice() ?? null;
      },
      async publishBundle(bundle) {
        if (status !== 'connected') throw unavailable();
        retained.set(userId, bundle.slice());
      },
      async close() {
        t.drop();
        status = 'closed';
        for (const l of listeners) l('closed');
        for (const w of waiters) w.reject(unavailable());
        waiters.clear();
      },
      deliver(envelope) {
        if (handler === undefined) return Promise.reject(new Error('no handler'));
        return handler(envelope);
      },
      drop() {
        const s = sessions.get(userId);
        if (s?.transport === t) {
          s.transport = undefined;
          s.generation += 1;
        }
        if (status === 'connected') set('disconnected');
        checkIdle();
      },
    };
    return t;
  }

  const detached = new Map<UserId, FakeTransport>();
  const hub: FakeRelayHub = {
    transport: (userId) => makeTransport(userId),
    published,
    retained,
    queued: (userId) => sessions.get(userId)?.queue.length ?? 0,
    disconnect(userId) {
      const s = sessions.get(userId);
      const t = s?.transport;
      if (t === undefined) return;
      detached.set(userId, t);
      t.drop();
    },
    reconnect(userId) {
      // the dropped transport comes back, as mqtt.js would after its backoff
      const t = detached.get(userId);
      detached.delete(userId);
      t?.start();
    },
    idle() {
      if (isIdle()) return Promise.resolve();
      return new Promise((resolve) => idleWaiters.add(resolve));
    },
  };
  return hub;
}
