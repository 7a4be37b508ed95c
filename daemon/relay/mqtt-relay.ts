/**
 * RelayTransport on mqtt.js 5: MQTT 3.1.1 (Aedes 1.x has no v5), clean:false persistent
 * session, QoS 1, client id = user id (on a password broker: daemon/engine/relay-client-id.ts).
 *
 * - Transports: mqtt://, mqtts://, ws:// and wss:// (channel-bound-stream.ts), several URLs of one
 *   relay cluster with failover (failover.ts). TLS verifies the relay's certificate against the
 *   system roots, or only against `ca` (--broker-ca); a certificate that does not verify fails the
 *   attempt before any MQTT byte is sent, is logged as "certificate rejected (CODE)" and shown in
 *   `lastError` (ctl status) — never a fallback to plain text.
 * - Ack after storing: `client.handleMessage` is replaced before the first CONNECT (queued messages
 *   arrive with the CONNACK); each envelope's PUBACK is held until its handler resolves, in arrival
 *   order, while the next envelopes are already being handled (ordered-acks.ts). If a handler
 *   fails, the stream is destroyed without acking, so the broker redelivers after the reconnect
 *   (also on the QoS 0/2 path a misconfigured broker could use: nothing is acked after a failure).
 * - Credentials are made for every CONNECT once its channel is up, with that connection's TLS
 *   channel binding (empty on plain TCP), so a signed relay proof is never reused and is worthless
 *   on any other connection. A plain broker gets a fixed username/password through the same hook.
 * - Reconnect: mqtt.js' fixed interval is replaced, attempt by attempt, with exponential backoff and
 *   jitter (backoff.ts); reconnectOnConnackError keeps trying after a refused CONNECT.
 * - Subscriptions: the inbox (QoS 1) on every connect, and it counts as connected only after the
 *   SUBACK (anything published to the inbox before the first SUBACK would not be queued).
 *   Bundle fetches subscribe QoS 0 to the bundle topic, take the retained message, unsubscribe.
 */
import { MqttClient, type IPublishPacket } from 'mqtt';
import type { Logger } from 'pino';
import { ChannelBoundStream, openTransport } from './channel-bound-stream.ts';
import { describeConnectError } from './connect-errors.ts';
import { RelayError } from './errors.ts';
import { RelayFailover } from './failover.ts';
import { bundleTopic, DEFAULT_TOPIC_PREFIX, inboxTopic } from '../../core/topics.ts';
import type { UserId } from '../../core/user-id.ts';
import { backoffDelay, DEFAULT_RECONNECT_BACKOFF, type BackoffPolicy } from './backoff.ts';
import { installOrderedAcks } from './ordered-acks.ts';
import type { EnvelopeHandler, RelayStatus, RelayTransport } from './transport.ts';

export interface RelayCredentials {
  username?: string;
  password?: Uint8Array | string;
}

export interface MqttRelayOptions {
  /** The relay's URL, or several nodes of one relay cluster (a list, or comma-separated). */
  url: string | readonly string[];
  userId: UserId;
  logger: Logger;
  /**
   * Called for every CONNECT once its channel is up, with the connection's TLS channel binding
   * (RFC 9266 tls-exporter; empty on mqtt:// and ws://); default: none (anonymous).
   */
  credentials?: (channelBinding: Uint8Array) => RelayCredentials;
  /** PEM CA certificate(s) to trust for mqtts:// and wss:// instead of the system roots. */
  ca?: Buffer;
  /** Default: the user id (brokers bind the session to it). */
  clientId?: string;
  topicPrefix?: string;
  backoff?: BackoffPolicy;
  random?: () => number;
  /** How long to wait for a retained bundle after the SUBACK before answering "none" (ms). */
  bundleWaitMs?: number;
  connectTimeoutMs?: number;
  keepaliveSeconds?: number;
}

const DEFAULT_BUNDLE_WAIT_MS = 2000;

interface Waiter<T> {
  resolve(v: T): void;
  reject(e: unknown): void;
}

const unavailable = (what: string): RelayError => new RelayError('BrokerUnavailable', what);

/**
 * The payload as a Uint8Array. A payload that has its memory to itself (mqtt-packet joined it from
 * several socket reads, as it does for every file chunk) is taken as it is, not copied again; a
 * smaller one is a slice of a socket read and is copied, so that keeping it does not keep the read.
 */
function toBytes(payload: Buffer | string): Uint8Array {
  if (typeof payload === 'string') return new TextEncoder().encode(payload);
  if (payload.byteOffset === 0 && payload.byteLength === payload.buffer.byteLength) return new Uint8Array(payload.buffer, 0, payload.byteLength);
  return new Uint8Array(payload);
}

export function createMqttRelay(o: MqttRelayOptions): RelayTransport {
  const log = o.logger;
  const prefix = o.topicPrefix ?? DEFAULT_TOPIC_PREFIX;
  const policy = o.backoff ?? DEFAULT_RECONNECT_BACKOFF;
  const random = o.random ?? Math.random;
  const myInbox = inboxTopic(o.userId, prefix);
  const bundleWaitMs = o.bundleWaitMs ?? DEFAULT_BUNDLE_WAIT_MS;

  const failover = new RelayFailover(typeof o.url === 'string' ? o.url.split(',') : o.url);
  let lastError: string | undefined;
  let handler: EnvelopeHandler | undefined;
  const statusListeners: Array<(s: RelayStatus) => void> = [];
  let status: RelayStatus = 'disconnected';
  let attempt = 0;
  let started = false;
  const connectWaiters = new Set<Waiter<void>>();
  const bundleWaiters = new Map<string, Waiter<Uint8Array | null>>();
  const bundleFetches = new Map<string, Promise<Uint8Array | null>>();
  const pendingPublishes = new Set<Waiter<void>>();

  const toBuffer = (p: Uint8Array | string): Buffer => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p));
  /** A new connection: the next URL (failover.ts), credentials bound to its channel once it is up. */
  const streamBuilder = (): ChannelBoundStream => {
    const url = failover.next();
    const { inner, ready } = openTransport(url, o.ca === undefined ? {} : { ca: o.ca });
    return new ChannelBoundStream(inner, ready, (packet, binding) => {
      const c = o.credentials?.(binding) ?? {};
      if (c.username === undefined) delete packet.username;
      else packet.username = c.username;
      if (c.password === undefined) delete packet.password;
      else packet.password = toBuffer(c.password);
    });
  };

  const client: MqttClient = new MqttClient(streamBuilder, {
    manualConnect: true,
    clientId: o.clientId ?? o.userId,
    clean: false,
    protocolVersion: 4,
    resubscribe: false,
    reconnectPeriod: backoffDelay(policy, 0, random),
    reconnectOnConnackError: true,
    connectTimeout: o.connectTimeoutMs ?? 10_000,
    keepalive: o.keepaliveSeconds ?? 30,
    // Without this mqtt-packet builds, on first use, a table of 65,536 two-byte Buffers (one per
    // message id): ~7 MB of heap for the life of the process (and more for every major GC to mark),
    // to save a 2-byte allocation per packet.
    writeCache: false,
  });

  const setStatus = (s: RelayStatus): void => {
    if (status === s || status === 'closed') return;
    status = s;
    for (const l of statusListeners) {
      try {
        l(s);
      } catch (e) {
        log.error({ err: e }, 'relay status listener threw');
      }
    }
    if (s === 'connected') {
      for (const w of connectWaiters) w.resolve();
      connectWaiters.clear();
    }
  };

  const acks = installOrderedAcks(client);

  /** Drops the connection without acking what is held: the broker redelivers it. */
  const abandonConnection = (): void => {
    acks.connectionLost();
    client.stream.destroy();
  };

  client.handleMessage = (packet: IPublishPacket, cb: (error?: Error) => void): void => {
    const topic = packet.topic;
    if (topic === myInbox) {
      const h = handler;
      if (h === undefined) {
        log.error('inbound envelope before a handler was set; dropping the connection');
        abandonConnection();
        return;
      }
      if (packet.qos !== 1 || packet.messageId === undefined) {
        // Not QoS 1 (a misconfigured broker): handled serially, acked (QoS 2: PUBCOMP) only once
        // stored. A failure drops the connection without the callback, as on the QoS 1 path: QoS 2 is
        // redelivered after the reconnect, QoS 0 cannot be (the sender's outbox resends it).
        h(toBytes(packet.payload)).then(
          () => cb(),
          (err: unknown) => {
            log.warn({ err, qos: packet.qos }, 'inbound envelope not stored; reconnecting so the broker redelivers it');
            abandonConnection();
          },
        );
        return;
      }
      const bytes = toBytes(packet.payload);
      // mqtt.js goes on to the next packet when cb() is called; the PUBACK it sends then is held.
      const held = acks.hold(packet.messageId, () => cb());
      h(bytes).then(
        () => held.stored(),
        (err: unknown) => {
          if (!held.current()) return;
          log.warn({ err }, 'inbound envelope not stored; reconnecting so the broker redelivers it');
          abandonConnection();
        },
      );
      return;
    }
    const waiter = bundleWaiters.get(topic);
    if (waiter !== undefined) {
      const bytes = toBytes(packet.payload);
      waiter.resolve(bytes.length === 0 ? null : bytes);
    }
    cb();
  };

  client.on('connect', () => {
    failover.connected();
    lastError = undefined;
    // Nagle + delayed ACK would hold small writes (a PUBACK after a PUBLISH, an UNSUBSCRIBE after a
    // SUBSCRIBE) for up to 40 ms on some systems: latency matters more than packet count here.
    (client.stream as { setNoDelay?: (noDelay: boolean) => void }).setNoDelay?.(true);
    attempt = 0;
    client.options.reconnectPeriod = backoffDelay(policy, 0, random);
    client.subscribe(myInbox, { qos: 1 }, (err, granted) => {
      if (err || granted?.[0]?.qos === 128 || granted?.[0] === undefined) {
        log.error({ err }, 'the broker refused the inbox subscription; retrying');
        client.stream.destroy();
        return;
      }
      log.info({ url: failover.current }, 'relay connected');
      setStatus('connected');
    });
  });
  client.on('reconnect', () => {
    attempt += 1;
    client.options.reconnectPeriod = backoffDelay(policy, attempt, random);
    setStatus('connecting');
  });
  client.on('close', () => {
    // PUBACKs held for this connection can no longer be sent; the broker redelivers those envelopes.
    acks.connectionLost();
    if (status === 'connected') log.warn('relay connection lost');
    for (const [, w] of bundleWaiters) w.reject(unavailable('relay connection lost during a bundle fetch'));
    bundleWaiters.clear();
    if (status !== 'closed') setStatus('disconnected');
  });
  client.on('error', (err) => {
    const url = failover.current;
    const problem = describeConnectError(err);
    // A clear line once per change (a certificate that keeps failing is retried with backoff, not re-logged).
    if (problem.text !== lastError) {
      if (problem.severe) log.error({ url, code: problem.code }, `relay ${problem.text}`);
      else log.warn({ url, code: problem.code, msg: err.message }, `relay ${problem.text}`);
    }
    lastError = problem.text;
  });

  const isConnected = (): boolean => status === 'connected' && client.connected;

  function publish(topic: string, payload: Uint8Array, retain: boolean): Promise<void> {
    if (!isConnected()) return Promise.reject(unavailable('not connected to the broker'));
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const w: Waiter<void> = {
        resolve: () => {
          if (settled) return;
          settled = true;
          pendingPublishes.delete(w);
          resolve();
        },
        reject: (e) => {
          if (settled) return;
          settled = true;
          pendingPublishes.delete(w);
          reject(e);
        },
      };
      pendingPublishes.add(w);
      client.publish(topic, Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), { qos: 1, retain }, (err) => {
        if (err) w.reject(unavailable(`publish failed: ${err.message}`));
        else w.resolve();
      });
    });
  }

  async function fetchOnce(topic: string): Promise<Uint8Array | null> {
    let timer: NodeJS.Timeout | undefined;
    const got = new Promise<Uint8Array | null>((resolve, reject) => bundleWaiters.set(topic, { resolve, reject }));
    try {
      const granted = await client.subscribeAsync(topic, { qos: 0 });
      if (granted[0]?.qos === 128) throw unavailable('the broker refused the bundle subscription');
      timer = setTimeout(() => bundleWaiters.get(topic)?.resolve(null), bundleWaitMs);
      return await got;
    } finally {
      if (timer) clearTimeout(timer);
      bundleWaiters.delete(topic);
      got.catch(() => undefined);
      if (client.connected) {
        client.unsubscribe(topic, (err) => {
          if (err) log.debug({ msg: err.message }, 'bundle unsubscribe failed');
        });
      }
    }
  }

  return {
    onEnvelope(h) {
      handler = h;
    },
    onStatus(l) {
      statusListeners.push(l);
    },
    start() {
      if (started || status === 'closed') return;
      started = true;
      setStatus('connecting');
      client.connect();
    },
    whenConnected() {
      if (isConnected()) return Promise.resolve();
      if (status === 'closed') return Promise.reject(unavailable('relay closed'));
      return new Promise((resolve, reject) => connectWaiters.add({ resolve, reject }));
    },
    get connected() {
      return isConnected();
    },
    get url() {
      return failover.current;
    },
    get lastError() {
      return lastError;
    },
    publishEnvelope(to, envelope) {
      return publish(inboxTopic(to, prefix), envelope, false);
    },
    publishBundle(bundle) {
      return publish(bundleTopic(o.userId, prefix), bundle, true);
    },
    fetchBundle(userId) {
      if (!isConnected()) return Promise.reject(unavailable('not connected to the broker'));
      const topic = bundleTopic(userId, prefix);
      const existing = bundleFetches.get(topic);
      if (existing) return existing;
      const p = fetchOnce(topic);
      bundleFetches.set(topic, p);
      const forget = (): void => {
        bundleFetches.delete(topic);
      };
      p.then(forget, forget);
      return p;
    },
    async close() {
      if (status === 'closed') return;
      const wasStarted = started;
      status = 'closed';
      for (const l of statusListeners) l('closed');
      const closedErr = unavailable('relay closed');
      for (const w of connectWaiters) w.reject(closedErr);
      connectWaiters.clear();
      for (const w of [...pendingPublishes]) w.reject(closedErr);
      for (const [, w] of bundleWaiters) w.reject(closedErr);
      bundleWaiters.clear();
      if (wasStarted) await client.endAsync(true);
    },
  };
}
