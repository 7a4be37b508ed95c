/**
 * Raw mqtt.js clients for the attack and fuzz tests: an authenticated outsider ("mallory": her own
 * fresh identity and a valid CONNECT proof for it) and arbitrary CONNECT attempts, against the real
 * broker. No reconnects: a refused packet closes the connection and the test sees it.
 */
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import type { Crypto } from '../../../core/crypto.ts';
import { createIdentity, type LocalIdentity } from '../../../core/index.ts';
import { createRelayProof, DEFAULT_RELAY_AUDIENCE } from '../../../core/relay-auth.ts';

export interface ConnectOutcome {
  readonly client: MqttClient;
  /** CONNACK return code, or null when the connection closed without one. */
  readonly returnCode: number | null;
}

/** Opens one MQTT 3.1.1 connection (no reconnect) and reports the CONNACK code. */
export function tryConnect(url: string, options: IClientOptions): Promise<ConnectOutcome> {
  const client = connect(url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10_000, clean: false, ...options });
  client.on('error', () => undefined);
  return new Promise((resolve) => {
    client.once('connect', (connack) => resolve({ client, returnCode: connack.returnCode ?? 0 }));
    client.once('error', (e) => {
      const code = (e as { code?: unknown }).code;
      resolve({ client, returnCode: typeof code === 'number' ? code : null });
    });
    client.once('close', () => resolve({ client, returnCode: null }));
  });
}

export interface Mallory {
  readonly identity: LocalIdentity;
  readonly client: MqttClient;
}

/** Mallory: a fresh identity with a valid proof for herself (anyone may run a daemon). */
export async function connectMallory(crypto: Crypto, url: string, options: Partial<IClientOptions> = {}): Promise<Mallory> {
  const identity = createIdentity(crypto);
  const proof = createRelayProof(crypto, identity, identity.userId, DEFAULT_RELAY_AUDIENCE, Date.now());
  const { client, returnCode } = await tryConnect(url, {
    clientId: identity.userId,
    username: proof.username,
    password: Buffer.from(proof.password),
    ...options,
  });
  if (returnCode !== 0) throw new Error(`mallory could not log in (CONNACK ${returnCode})`);
  return { identity, client };
}

/** Resolves once the client's connection is closed (e.g. the broker refused a publish). */
export function closed(client: MqttClient, timeoutMs = 10_000): Promise<boolean> {
  if (!client.connected) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    client.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}
