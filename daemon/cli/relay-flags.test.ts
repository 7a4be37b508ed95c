/**
 * The relay flags of `ratchetd broker` and `ratchetd daemon` (TLS, WebSockets, relay name,
 * several broker URLs, a private CA): a mistake is one clear line on stderr and exit 2 (usage) or
 * 1 (an unusable file), before anything listens or connects.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestCertificates, type TestCertificates } from '../../test/fixtures/tls-certs.ts';
import { runCli } from './spawn-cli.ts';

let dir: string;
let certs: TestCertificates;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ratchetd-flags-'));
  await writeFile(join(dir, 'not-a-cert.pem'), 'hello\n');
  certs = await makeTestCertificates();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await certs?.remove();
});

function expectOneLineError(result: { code: number | null; stdout: string; stderr: string }, code: number, pattern: RegExp): void {
  expect(result.stdout).toBe('');
  expect(result.stderr.split('\n').filter((l) => l !== '')).toHaveLength(1);
  expect(result.stderr).toMatch(pattern);
  expect(result.code).toBe(code);
}

describe('relay flags', () => {
  it.each([
    [['broker', '--persistence', 'memory', '--tls-cert', 'x.crt'], 2, /--tls-cert F and --tls-key F go together/],
    [['broker', '--persistence', 'memory', '--ws-port', '99999'], 2, /--ws-port must be a port number/],
    [['broker', '--persistence', 'memory', '--relay-name', 'x'.repeat(256)], 2, /--relay-name must be at most 255 bytes/],
    [['daemon', '--data', '/tmp', '--broker', 'mqtts://a:1,mqtt://b:2'], 2, /all URLs TLS .* or all plain/],
    [['daemon', '--data', '/tmp', '--broker', 'mqtt://a:1,'], 2, /an empty URL in the list/],
    [['daemon', '--data', '/tmp', '--broker', 'mqtt://u:p@a:1'], 2, /carry no credentials/],
    [['daemon', '--data', '/tmp', '--broker', 'mqtt://a:1', '--broker-ca', 'ca.pem'], 2, /--broker-ca needs mqtts:\/\/ or wss:\/\//],
  ])('%j exits %i with one line', async (args, code, pattern) => {
    expectOneLineError(await runCli(args), code, pattern);
  });

  it('a broker certificate file that is missing or does not match its key fails the start in one line', async () => {
    const missing = await runCli(['broker', '--port', '0', '--persistence', 'memory', '--tls-cert', join(dir, 'none.crt'), '--tls-key', certs.server.keyFile, '--log-level', 'silent']);
    expectOneLineError(missing, 1, /cannot read the TLS certificate .*none\.crt \(ENOENT\)/);
    const mismatched = await runCli(['broker', '--port', '0', '--persistence', 'memory', '--tls-cert', certs.server.certFile, '--tls-key', certs.rotated.keyFile, '--log-level', 'silent']);
    expectOneLineError(mismatched, 1, /the key does not match the certificate/);
  });

  it('a --broker-ca file that is missing or holds no certificate fails the daemon in one line', async () => {
    const base = ['daemon', '--data', join(dir, 'd'), '--broker', 'mqtts://127.0.0.1:1', '--log-level', 'silent'];
    expectOneLineError(await runCli([...base, '--broker-ca', join(dir, 'none.pem')]), 1, /cannot read the broker CA file .* \(ENOENT\)/);
    expectOneLineError(await runCli([...base, '--broker-ca', join(dir, 'not-a-cert.pem')]), 1, /holds no usable PEM certificate/);
  });
});
