/**
 * Issue 13, TLS and WebSockets: `ratchetd broker --tls-cert F --tls-key F --ws-port N` serves only
 * mqtts:// and wss://; daemons given `--broker-ca` (a private CA) log in over both and talk; a
 * certificate that does not verify is a clear error with no plaintext fallback; SIGHUP serves a new
 * certificate to new connections while open ones keep working. Real processes, free ports,
 * certificates made per run (test/fixtures/tls-certs.ts).
 */
import { copyFile } from 'node:fs/promises';
import { connect as netConnect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import tls from 'node:tls';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestCertificates, type TestCertificates } from './fixtures/tls-certs.ts';
import { exchange, RelayProcesses, type RelayProcess } from './fixtures/relay-processes.ts';

let certs: TestCertificates;
let net: RelayProcesses;
beforeAll(async () => {
  certs = await makeTestCertificates();
  net = await RelayProcesses.create('tls');
});
afterAll(async () => {
  await net?.stopAll();
  await certs?.remove();
});

const port = (url: unknown): number => Number(new URL(String(url)).port);

/** The fingerprint of the certificate a fresh TLS connection to the port is served. */
function servedFingerprint(p: number, ca: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port: p, ca, minVersion: 'TLSv1.3' }, () => {
      resolve(s.getPeerX509Certificate()?.fingerprint256 ?? '');
      s.destroy();
    });
    s.once('error', reject);
  });
}

const fingerprintOf = async (certFile: string): Promise<string> => new X509Certificate(await readFile(certFile)).fingerprint256;

/** A plain TCP relay in front of `target` that records what the client sent. */
async function recordingProxy(targetPort: number): Promise<{ port: number; fromClient: () => Buffer; close(): Promise<void> }> {
  const chunks: Buffer[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = netConnect({ host: '127.0.0.1', port: targetPort });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined).on('close', () => (client.destroy(), upstream.destroy()));
    }
    client.on('data', (d: Buffer) => (chunks.push(d), upstream.write(d)));
    upstream.on('data', (d: Buffer) => client.write(d));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    fromClient: () => Buffer.concat(chunks),
    close: () => new Promise((r) => (sockets.forEach((s) => s.destroy()), server.close(() => r()))),
  };
}

describe('a TLS relay (mqtts:// and wss://) with a private CA', () => {
  let broker: RelayProcess;
  let live: { certFile: string; keyFile: string };
  let ca: Buffer;

  beforeAll(async () => {
    // The broker reads its certificate from these paths again on SIGHUP.
    live = { certFile: join(net.dir, 'live.crt'), keyFile: join(net.dir, 'live.key') };
    await copyFile(certs.server.certFile, live.certFile);
    await copyFile(certs.server.keyFile, live.keyFile);
    ca = await readFile(certs.caFile);
    broker = await net.broker('broker', ['--persistence', 'memory', '--tls-cert', live.certFile, '--tls-key', live.keyFile, '--ws-port', '0']);
  });

  it('announces mqtts:// and wss:// in its one ready line, and serves nothing in plain text', async () => {
    expect(broker.ready).toEqual({ event: 'ready', mqtt: expect.stringMatching(/^mqtts:\/\/127\.0\.0\.1:\d+$/), ws: expect.stringMatching(/^wss:\/\/127\.0\.0\.1:\d+$/), relayName: 'ratchetd' });
    expect(broker.proc.stdoutLines).toEqual([]);
    // a plain MQTT client on the TLS port gets no MQTT answer: the connection just ends
    const refused = await new Promise<Buffer>((resolve) => {
      const s = netConnect({ host: '127.0.0.1', port: port(broker.ready['mqtt']) }, () => s.write(Buffer.from('101000044d5154540402003c0000', 'hex')));
      const got: Buffer[] = [];
      s.on('data', (d: Buffer) => got.push(d)).on('error', () => undefined).on('close', () => resolve(Buffer.concat(got)));
    });
    expect(refused.includes(Buffer.from([0x20, 0x02]))).toBe(false); // no CONNACK
  });

  it('daemons on mqtts:// and wss:// with --broker-ca log in and exchange messages', { timeout: 90_000 }, async () => {
    const mqtts = `mqtts://localhost:${port(broker.ready['mqtt'])}`;
    const wss = `wss://127.0.0.1:${port(broker.ready['ws'])}/any/path`;
    const [alice, bob] = await Promise.all([
      net.daemon('alice', ['--broker', mqtts, '--broker-ca', certs.caFile]),
      net.daemon('bob', ['--broker', wss, '--broker-ca', certs.caFile]),
    ]);
    await exchange(alice, bob, 'hello over mqtts → wss');
    await exchange(bob, alice, 'and back');
    expect(await alice.client.getStatus()).toMatchObject({ brokerConnected: true, brokerUrl: mqtts });
    expect((await bob.client.getStatus()).brokerError).toBeUndefined();

    // SIGHUP with new files: new connections get the new certificate, alice's connection goes on.
    await copyFile(certs.rotated.certFile, live.certFile);
    await copyFile(certs.rotated.keyFile, live.keyFile);
    broker.proc.child.kill('SIGHUP');
    await broker.logs.waitFor(/SIGHUP: TLS certificate reloaded/, 'the reload');
    const rotated = await fingerprintOf(certs.rotated.certFile);
    expect(await servedFingerprint(port(broker.ready['mqtt']), ca)).toBe(rotated);
    expect(await servedFingerprint(port(broker.ready['ws']), ca)).toBe(rotated);
    const carol = await net.daemon('carol', ['--broker', mqtts, '--broker-ca', certs.caFile]);
    await exchange(carol, alice, 'after the reload');
    await exchange(alice, bob, 'alice still on her first connection');
    expect(alice.logs.count(/"msg":"relay connected"/)).toBe(1);

    // A key that does not match the certificate: refused, the listener keeps the last good pair.
    await copyFile(certs.server.keyFile, live.keyFile); // rotated.crt + server.key
    broker.proc.child.kill('SIGHUP');
    await broker.logs.waitFor(/TLS certificate not reloaded/, 'the refused reload');
    expect(await servedFingerprint(port(broker.ready['mqtt']), ca)).toBe(rotated);
  });

  it('cuts a connection announcing a packet over the size limit on mqtts:// and on wss://', async () => {
    // A CONNECT header announcing a 1 MiB body (limit: 300 KiB + overhead), then a little of it.
    const huge = Buffer.concat([Buffer.from([0x10, 0x80, 0x80, 0x40]), Buffer.alloc(200)]);
    const before = broker.logs.count(/packet over the size limit/);
    await new Promise<void>((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port: port(broker.ready['mqtt']), ca }, () => s.write(huge));
      s.on('error', () => undefined).on('close', () => resolve());
    });
    await new Promise<void>((resolve) => {
      const ws = new WebSocket(String(broker.ready['ws']), ['mqtt'], { ca });
      ws.on('open', () => ws.send(huge)).on('error', () => undefined).on('close', () => resolve());
    });
    await broker.logs.waitForCount(/packet over the size limit/, before + 2, 'both cuts logged');
    expect(broker.logs.count(/packet over the size limit/)).toBe(before + 2);
  });

  it('a certificate that does not verify is a clear error, and no MQTT byte goes out in plain text', { timeout: 60_000 }, async () => {
    const proxy = await recordingProxy(port(broker.ready['mqtt']));
    try {
      // mallory's CA is not the one that signed the relay's certificate
      const dave = await net.daemon('dave', ['--broker', `mqtts://localhost:${proxy.port}`, '--broker-ca', certs.otherCaFile]);
      const line = await dave.logs.waitFor(/certificate rejected/, 'the certificate error');
      expect(JSON.parse(line)).toMatchObject({ level: 50, code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', msg: 'relay certificate rejected (UNABLE_TO_VERIFY_LEAF_SIGNATURE)' });
      const status = await dave.client.getStatus();
      expect(status).toMatchObject({ brokerConnected: false, brokerError: 'certificate rejected (UNABLE_TO_VERIFY_LEAF_SIGNATURE)' });
      const sent = proxy.fromClient();
      expect(sent.length).toBeGreaterThan(0);
      expect(sent[0]).toBe(0x16); // a TLS handshake record, nothing else
      expect(sent.includes(Buffer.from('MQTT'))).toBe(false); // never a CONNECT in the clear
      expect(sent.includes(Buffer.from(dave.userId))).toBe(false);
      await net.stop(dave);
    } finally {
      await proxy.close();
    }
  });
});

describe('a plain relay with WebSockets (ws://)', () => {
  it('announces mqtt:// and ws://; daemons on either exchange messages', { timeout: 90_000 }, async () => {
    const broker = await net.broker('plain', ['--persistence', 'memory', '--ws-port', '0']);
    expect(broker.ready).toEqual({ event: 'ready', mqtt: expect.stringMatching(/^mqtt:\/\//), ws: expect.stringMatching(/^ws:\/\/127\.0\.0\.1:\d+$/), relayName: 'ratchetd' });
    const [erin, frank] = await Promise.all([
      net.daemon('erin', ['--broker', String(broker.ready['ws'])]),
      net.daemon('frank', ['--broker', String(broker.ready['mqtt'])]),
    ]);
    await exchange(erin, frank, 'over ws://');
    await exchange(frank, erin, 'and mqtt://');
    await net.stop(broker);
  });
});
