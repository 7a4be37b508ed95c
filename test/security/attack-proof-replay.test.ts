/**
 * Issue 10 item 5: a login proof captured on its way to one relay must not log in anywhere else,
 * and a full nonce cache must not lock everyone out. Real broker processes.
 *  - Relay names: a proof recorded on the wire to relay "relay-a" (a daemon run with
 *    --relay-name relay-a, through a plain TCP tap) is refused by a broker named "relay-b"; a
 *    broker with the same name (a replica without the shared nonces) is the control that accepts it.
 *    Default flags on both sides still interoperate, also through a plain TCP proxy on another port.
 *  - TLS channel binding: a proof made on one TLS connection (captured inside our own client, as the
 *    wire is encrypted) is refused on any other TLS connection to the same broker — before its nonce
 *    was ever used, so the binding and not the nonce cache refuses it — over mqtts and wss; an
 *    unbound proof is refused on TLS too.
 *  - One identity hammering logins is refused (CONNACK 3) once it holds 64 proofs, while another
 *    identity logs in at once.
 */
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import mqttPacket, { type IConnectPacket, type Packet } from 'mqtt-packet';
import WebSocket, { createWebSocketStream } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSodiumCrypto } from '../../crypto/sodium.ts';
import { createIdentity, type LocalIdentity } from '../../core/index.ts';
import { createRelayProof, DEFAULT_RELAY_AUDIENCE } from '../../core/relay-auth.ts';
import { tlsChannelBinding } from '../../daemon/relay/channel-bound-stream.ts';
import { DEFAULT_MAX_PROOFS_PER_IDENTITY } from '../../broker/config.ts';
import { makeTestCertificates, type TestCertificates } from '../fixtures/tls-certs.ts';
import { RelayProcesses, type RelayProcess } from '../fixtures/relay-processes.ts';
import { tryConnect } from './support/mallory.ts';
import { startTcpTap, type TcpTap } from './support/tcp-tap.ts';

const crypto = await createSodiumCrypto();
let net: RelayProcesses;
const taps: TcpTap[] = [];
beforeAll(async () => {
  net = await RelayProcesses.create('replay');
});
afterAll(async () => {
  for (const t of taps) await t.close();
  await net?.stopAll();
});

/** Sends one CONNECT on an open stream and resolves with the CONNACK code (null: closed without one). */
function loginOn(stream: Duplex, connect: IConnectPacket): Promise<number | null> {
  return new Promise((resolve) => {
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (p: Packet) => {
      if (p.cmd === 'connack') resolve(p.returnCode ?? null);
    });
    stream.on('data', (d: Buffer) => parser.parse(d));
    stream.on('error', () => undefined);
    stream.on('close', () => resolve(null));
    stream.write(mqttPacket.generate(connect));
  });
}

function connectPacket(identity: LocalIdentity, password: Uint8Array): IConnectPacket {
  return { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: identity.userId, keepalive: 30, username: identity.userId, password: Buffer.from(password) };
}

describe('a proof made for one relay name', () => {
  it('is refused by a relay with another name; the same name is the control that accepts it', { timeout: 90_000 }, async () => {
    const [a, a2, b] = await Promise.all([
      net.broker('relay-a', ['--data', `${net.dir}/relay-a`, '--relay-name', 'relay-a']),
      net.broker('relay-a replica', ['--data', `${net.dir}/relay-a2`, '--relay-name', 'relay-a']),
      net.broker('relay-b', ['--persistence', 'memory', '--relay-name', 'relay-b']),
    ]);
    expect([a.ready['relayName'], b.ready['relayName']]).toEqual(['relay-a', 'relay-b']);
    const tap = await startTcpTap(String(a.ready['mqtt']));
    taps.push(tap);
    const alice = await net.daemon('alice', ['--broker', tap.url, '--relay-name', 'relay-a']);
    expect((await alice.client.getStatus()).brokerConnected).toBe(true);
    const captured = (await tap.waitFor((e) => e.dir === 'up' && e.packet.cmd === 'connect', "alice's CONNECT")).packet as IConnectPacket;

    const options = { clientId: captured.clientId, username: captured.username!, password: Buffer.from(captured.password!), clean: true };
    const atB = await tryConnect(String(b.ready['mqtt']), options);
    atB.client.end(true);
    expect(atB.returnCode, 'replayed at relay-b').toBe(5);
    await b.logs.waitFor(/"code":"BadSignature"/, 'relay-b refusing the foreign proof');
    const atA2 = await tryConnect(String(a2.ready['mqtt']), options);
    atA2.client.end(true);
    expect(atA2.returnCode, 'control: a relay of the same name without the shared nonces').toBe(0);
  });

  it('default flags: a default daemon logs in at a default broker, directly and through a plain TCP proxy', { timeout: 60_000 }, async () => {
    const broker = await net.broker('default', ['--persistence', 'memory']);
    expect(broker.ready['relayName']).toBe(DEFAULT_RELAY_AUDIENCE);
    const proxy = await startTcpTap(String(broker.ready['mqtt']));
    taps.push(proxy);
    expect(new URL(proxy.url).port).not.toBe(new URL(String(broker.ready['mqtt'])).port);
    const [direct, proxied] = await Promise.all([
      net.daemon('direct', ['--broker', String(broker.ready['mqtt'])]),
      net.daemon('proxied', ['--broker', proxy.url]),
    ]);
    expect((await direct.client.getStatus()).brokerConnected).toBe(true);
    expect((await proxied.client.getStatus()).brokerConnected).toBe(true);
  });
});

describe('a proof bound to one TLS connection', () => {
  let certs: TestCertificates;
  let ca: Buffer;
  let broker: RelayProcess;
  beforeAll(async () => {
    certs = await makeTestCertificates();
    ca = await readFile(certs.caFile);
    broker = await net.broker('tls', ['--persistence', 'memory', '--tls-cert', certs.server.certFile, '--tls-key', certs.server.keyFile, '--ws-port', '0']);
  });
  afterAll(async () => {
    await certs?.remove();
  });

  /** An open mqtts:// connection and its TLS socket. */
  async function mqtts(): Promise<{ stream: Duplex; tlsSocket: tls.TLSSocket }> {
    const s = tls.connect({ host: '127.0.0.1', port: Number(new URL(String(broker.ready['mqtt'])).port), ca, minVersion: 'TLSv1.3' });
    await once(s, 'secureConnect');
    return { stream: s, tlsSocket: s };
  }

  /** An open wss:// connection (as the daemon opens it) and the TLS socket under it. */
  async function wss(): Promise<{ stream: Duplex; tlsSocket: tls.TLSSocket }> {
    const ws = new WebSocket(String(broker.ready['ws']), ['mqtt'], { ca, minVersion: 'TLSv1.3' });
    const upgraded = once(ws, 'upgrade') as Promise<[{ socket: tls.TLSSocket }]>;
    await once(ws, 'open');
    const [res] = await upgraded;
    return { stream: createWebSocketStream(ws), tlsSocket: res.socket };
  }

  it.each([
    ['mqtts', mqtts],
    ['wss', wss],
  ] as const)('%s: is refused on every other TLS connection, even unused; accepted only on its own', { timeout: 30_000 }, async (_name, open) => {
    const bob = createIdentity(crypto);
    const first = await open();
    // Our own client code makes the proof for `first` and, instead of sending it, hands it over.
    const captured = connectPacket(bob, createRelayProof(crypto, bob, bob.userId, DEFAULT_RELAY_AUDIENCE, Date.now(), tlsChannelBinding(first.tlsSocket)).password);

    const elsewhere = await open();
    expect(await loginOn(elsewhere.stream, captured), 'its nonce never used: the binding refuses it').toBe(5);
    expect(await loginOn(first.stream, captured), 'on the connection it was made for').toBe(0);
    const again = await open();
    expect(await loginOn(again.stream, captured), 'a used proof on a new connection').toBe(5);

    // A proof without a binding (as made for plain TCP) does not log in over TLS either.
    const unboundOn = await open();
    expect(await loginOn(unboundOn.stream, connectPacket(bob, createRelayProof(crypto, bob, bob.userId, DEFAULT_RELAY_AUDIENCE, Date.now()).password))).toBe(5);
    for (const c of [first, elsewhere, again, unboundOn]) c.stream.destroy();
  });
});

describe('the nonce cache', () => {
  it(`refuses an identity past ${DEFAULT_MAX_PROOFS_PER_IDENTITY} logins in the window, and nobody else`, { timeout: 60_000 }, async () => {
    const broker = await net.broker('bounded', ['--data', `${net.dir}/bounded`]);
    const url = String(broker.ready['mqtt']);
    const hammer = createIdentity(crypto);
    const login = async (who: LocalIdentity): Promise<number | null> => {
      const proof = createRelayProof(crypto, who, who.userId, DEFAULT_RELAY_AUDIENCE, Date.now());
      const { client, returnCode } = await tryConnect(url, { clientId: who.userId, username: proof.username, password: Buffer.from(proof.password), clean: true });
      await client.endAsync(true);
      return returnCode;
    };
    const codes: Array<number | null> = [];
    for (let i = 0; i < DEFAULT_MAX_PROOFS_PER_IDENTITY + 3; i++) codes.push(await login(hammer));
    expect(codes).toEqual([...Array<number>(DEFAULT_MAX_PROOFS_PER_IDENTITY).fill(0), 3, 3, 3]);
    await broker.logs.waitFor(/"code":"TooManyLogins"/, 'the refusal logged');
    // everyone else still logs in
    for (let i = 0; i < 3; i++) expect(await login(createIdentity(crypto))).toBe(0);
  });
});
