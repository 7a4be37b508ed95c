import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestApi, type TestApi } from '../api/test-server.ts';
import { runCli, startCli, stopCli } from './spawn-cli.ts';

const TOKEN = 'ctl-test-token-0123456789abcdef';
let api: TestApi;
beforeEach(async () => {
  api = await startTestApi({ tcp: { token: TOKEN } });
});
afterEach(async () => {
  await api.cleanup();
});

const ctl = (...args: string[]) => runCli(['ctl', '--socket', api.socketPath, ...args]);

function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('ratchetd ctl against a daemon API', () => {
  it('whoami prints the identity', async () => {
    const result = await ctl('whoami');
    expect(result.code).toBe(0);
    expect(jsonLines(result.stdout)).toEqual([
      {
        userId: api.backend.identity.userId,
        identityKey: Buffer.from(api.backend.identity.identityKey).toString('hex'),
        fingerprint: api.backend.identity.fingerprint,
      },
    ]);
  });

  it('send USER TEXT sends the text and prints the message id', async () => {
    const peer = api.backend.addPeer();
    const result = await ctl('send', peer, 'hello', 'there', '--idempotency-key', 'k1');
    expect(result.code).toBe(0);
    const [line] = jsonLines(result.stdout);
    expect(line?.['messageId']).toBe(api.backend.sent[0]?.messageId);
    expect(new TextDecoder().decode(api.backend.sent[0]?.body)).toBe('hello there');
    expect(api.backend.sent[0]?.contentType).toBe('text/plain; charset=utf-8');
    expect(api.backend.sent[0]?.idempotencyKey).toBe('k1');
  });

  it('send without TEXT reads the body from stdin', async () => {
    const peer = api.backend.addPeer();
    const result = await runCli(['ctl', '--socket', api.socketPath, 'send', peer, '--content-type', 'application/json'], { input: '{"a":1}' });
    expect(result.code).toBe(0);
    expect(new TextDecoder().decode(api.backend.sent[0]?.body)).toBe('{"a":1}');
    expect(api.backend.sent[0]?.contentType).toBe('application/json');
  });

  it('send to a bad user id fails with one line naming the status', async () => {
    const result = await ctl('send', 'bob', 'hi');
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/INVALID_ARGUMENT: to is not a ratchetd user id/);
  });

  it('receive prints one JSON line per message, acks each, and stops when caught up', async () => {
    const peer = api.backend.addPeer();
    api.backend.deliver(peer, 'first');
    api.backend.deliver(peer, new Uint8Array([0xff, 0xfe]), 'application/octet-stream');
    const result = await ctl('receive');
    expect(result.code).toBe(0);
    const printed = jsonLines(result.stdout);
    expect(printed).toHaveLength(2);
    expect(printed[0]).toMatchObject({ event: 'message', from: peer, text: 'first', contentType: 'text/plain; charset=utf-8' });
    expect(printed[1]).toMatchObject({ event: 'message', from: peer, bodyBase64: Buffer.from([0xff, 0xfe]).toString('base64') });
    expect((await api.client.getStatus()).inboxDepth).toBe(0);
    const again = await ctl('receive');
    expect(again.code).toBe(0);
    expect(again.stdout).toBe('');
  });

  it('receive --peek prints without acking', async () => {
    api.backend.deliver(api.backend.addPeer(), 'keep me');
    const result = await ctl('receive', '--peek');
    expect(jsonLines(result.stdout)).toHaveLength(1);
    expect((await api.client.getStatus()).inboxDepth).toBe(1);
  });

  it('receive --follow streams live messages until SIGTERM, then exits 0', async () => {
    const peer = api.backend.addPeer();
    api.backend.deliver(peer, 'stored');
    const running = await startCli(['ctl', '--socket', api.socketPath, 'receive', '--follow']);
    expect(JSON.parse(running.readyLine)).toMatchObject({ text: 'stored' });
    const lines: string[] = [];
    running.child.stdout?.setEncoding('utf8').on('data', (d: string) => lines.push(...d.split('\n').filter((l) => l !== '')));
    api.backend.deliver(peer, 'live');
    while (lines.length === 0) await new Promise((r) => setTimeout(r, 10));
    expect(JSON.parse(lines[0] ?? '{}')).toMatchObject({ event: 'message', text: 'live' });
    const finished = await stopCli(running);
    expect(finished.code).toBe(0);
    expect((await api.client.getStatus()).inboxDepth).toBe(0);
  });

  it('contacts, verify and status', async () => {
    const peer = api.backend.addPeer();
    api.backend.deliver(peer, 'hi');
    const contacts = jsonLines((await ctl('contacts')).stdout)[0] as { contacts: { userId: string; trust: string; safetyNumber: string }[] };
    expect(contacts.contacts).toHaveLength(1);
    expect(contacts.contacts[0]).toMatchObject({ userId: peer, trust: 'unverified' });
    const number = contacts.contacts[0]?.safetyNumber ?? '';
    const wrong = await ctl('verify', peer, '1'.repeat(number.length));
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/FAILED_PRECONDITION/);
    const verified = await ctl('verify', peer, number.slice(0, 10), number.slice(10));
    expect(verified.code).toBe(0);
    expect(jsonLines(verified.stdout)[0]).toMatchObject({ userId: peer, trust: 'verified' });
    const status = jsonLines((await ctl('status')).stdout)[0];
    expect(status).toMatchObject({ brokerConnected: true, contacts: 1, inboxDepth: 1 });
  });

  it('connects over TCP with --token or --token-file, and fails cleanly with a wrong token', async () => {
    const address = api.listening.tcp?.address ?? '';
    const ok = await runCli(['ctl', '--tcp', address, '--token', TOKEN, 'whoami']);
    expect(ok.code).toBe(0);
    expect(jsonLines(ok.stdout)[0]?.['userId']).toBe(api.backend.identity.userId);
    const tokenFile = join(api.dir, 'token');
    await writeFile(tokenFile, `${TOKEN}\n`);
    const fromFile = await runCli(['ctl', '--tcp', address, '--token-file', tokenFile, 'status']);
    expect(fromFile.code).toBe(0);
    const wrong = await runCli(['ctl', '--tcp', address, '--token', 'x'.repeat(32), 'whoami']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr.trim().split('\n')).toHaveLength(1);
    expect(wrong.stderr).toMatch(/UNAUTHENTICATED/);
    expect(wrong.stderr).not.toContain(TOKEN);
  });
});
