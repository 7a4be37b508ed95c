/**
 * Helpers shared by the broker's tests: identities, mqtt.js clients that log in with a fresh proof on
 * every (re)connect, waiting for messages. Not used by production code.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import mqtt from 'mqtt';
import { pino } from 'pino';
import type { Logger } from 'pino';
import type { IClientOptions, MqttClient, Packet } from 'mqtt';
import type { Crypto } from '../core/crypto.ts';
import { relayConnectOptions } from '../core/relay-auth.ts';
import type { RelayIdentity } from '../core/relay-auth.ts';
import { bundleTopic, inboxTopic } from '../core/topics.ts';
import { deriveUserId } from '../core/user-id.ts';
import type { UserId } from '../core/user-id.ts';

export { bundleTopic, inboxTopic };

export function newIdentity(crypto: Crypto): RelayIdentity {
  const keyPair = crypto.ed25519KeyPair();
  return { userId: deriveUserId(crypto, keyPair.publicKey), keyPair };
}

export async function tempDir(label: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `ratchetd-${label}-`));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

export interface ConnectOptions {
  audience?: string;
  /** mqtt.js automatic reconnect period (ms); default 0 (off). */
  reconnectPeriod?: number;
  clean?: boolean;
  /** Overrides applied after the proof (e.g. a wrong password); then no refresh on reconnect. */
  override?: Partial<IClientOptions>;
  /** Set before connecting, so queued messages that arrive with CONNACK are seen. */
  onMessage?: (topic: string, payload: Buffer) => void;
}

/** Options for one login of `identity` (fresh proof). */
export function loginOptions(crypto: Crypto, identity: RelayIdentity, audience = 'ratchetd'): IClientOptions {
  return { ...relayConnectOptions(crypto, identity, audience, Date.now()), reconnectPeriod: 0 };
}

/** Connects and resolves on CONNACK success; rejects with the refusal (err.code = CONNACK code). */
export function connectAs(url: string, crypto: Crypto, identity: RelayIdentity, opts: ConnectOptions = {}): Promise<MqttClient> {
  const audience = opts.audience ?? 'ratchetd';
  const fixed: IClientOptions = {
    ...(opts.clean === undefined ? {} : { clean: opts.clean }),
    ...(opts.reconnectPeriod === undefined ? {} : { reconnectPeriod: opts.reconnectPeriod }),
  };
  const options: IClientOptions = { ...loginOptions(crypto, identity, audience), ...fixed, ...opts.override };
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, options);
    if (opts.override === undefined) {
      // mqtt.js builds each CONNECT from client.options: a reused proof would be refused as a replay.
      client.on('reconnect', () => Object.assign(client.options, loginOptions(crypto, identity, audience), fixed));
    }
    if (opts.onMessage !== undefined) client.on('message', (topic, payload) => opts.onMessage?.(topic, payload));
    const onError = (err: Error): void => {
      client.removeListener('connect', onConnect);
      client.end(true);
      reject(err);
    };
    const onClose = (): void => onError(Object.assign(new Error('connection closed before CONNACK'), { code: 'closed' }));
    const onConnect = (): void => {
      client.removeListener('error', onError);
      client.removeListener('close', onClose);
      resolve(client);
    };
    client.once('error', onError);
    client.once('connect', onConnect);
    client.once('close', onClose);
  });
}

/** Subscribes and resolves with the SUBACK's granted codes (128 = refused); never rejects on 128. */
export function subscribeGranted(client: MqttClient, filters: string[]): Promise<number[]> {
  return new Promise((resolve) => {
    const onPacket = (packet: Packet): void => {
      if (packet.cmd !== 'suback') return;
      client.removeListener('packetreceive', onPacket);
      resolve(packet.granted.map((g) => (typeof g === 'number' ? g : (g as { qos: number }).qos)));
    };
    client.on('packetreceive', onPacket);
    client.subscribe(filters, { qos: 1 }, () => undefined);
  });
}

/** Counts PUBACKs the client receives from now on. */
export function countPubacks(client: MqttClient): () => number {
  let n = 0;
  client.on('packetreceive', (packet) => {
    if (packet.cmd === 'puback') n++;
  });
  return () => n;
}

/** Resolves when `client`'s connection closes (e.g. the broker cut it after a refused publish). */
export function closed(client: MqttClient): Promise<void> {
  return new Promise((resolve) => client.once('close', () => resolve()));
}

export async function end(...clients: Array<MqttClient | undefined>): Promise<void> {
  await Promise.all(clients.map((c) => (c === undefined ? undefined : c.endAsync(true).catch(() => undefined))));
}

/** Polls until `predicate()` is true; the test's own timeout bounds the wait. */
export async function until(predicate: () => boolean, stepMs = 10): Promise<void> {
  while (!predicate()) await new Promise((r) => setTimeout(r, stepMs));
}

/** A pino logger that keeps its JSON lines in memory, to assert on what the broker logged. */
export function memoryLogger(): { logger: Logger; text: () => string } {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), text: () => chunks.join('') };
}

export type { UserId };
