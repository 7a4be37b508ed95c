/**
 * `ratchetd ctl dead-letters` and `ctl redrive` (through the gRPC ListDeadLetters and
 * RedriveDeadLetters), and the dead-letter count in `ctl status`.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../api/test-server.ts';
import { runCli } from './spawn-cli.ts';

let api: TestApi;
beforeEach(async () => {
  api = await startTestApi();
});
afterEach(async () => {
  await api.cleanup();
});

const ctl = (...args: string[]) => runCli(['ctl', '--socket', api.socketPath, ...args]);
const json = (stdout: string): Record<string, unknown> => JSON.parse(stdout.trim()) as Record<string, unknown>;

describe('ratchetd ctl dead letters', () => {
  it('lists dead letters, re-drives some or all, and status counts them', async () => {
    const peer = api.backend.addPeer();
    const m1 = api.backend.deliver(peer, 'one');
    const m2 = api.backend.deliver(peer, 'two');
    await api.backend.addDeadLetter(m1, { attempts: 20, lastError: 'HTTP 502', firstAttemptAt: 7 });
    await api.backend.addDeadLetter(m2, { attempts: 21, lastError: 'ECONNREFUSED', firstAttemptAt: 8 });

    const listed = await ctl('dead-letters');
    expect(listed.code).toBe(0);
    expect(json(listed.stdout)).toEqual({
      deadLetters: [
        { messageId: m1.messageId, from: peer, cursor: m1.cursor, attempts: 20, lastError: 'HTTP 502', firstAttemptAt: 7, deadAt: expect.any(Number) },
        { messageId: m2.messageId, from: peer, cursor: m2.cursor, attempts: 21, lastError: 'ECONNREFUSED', firstAttemptAt: 8, deadAt: expect.any(Number) },
      ],
      total: 2,
    });
    expect(json((await ctl('status')).stdout)).toMatchObject({ deadLetters: 2 });

    expect(json((await ctl('redrive', m2.messageId, 'unknown-id')).stdout)).toEqual({ redriven: [m2.messageId] });
    expect(json((await ctl('redrive')).stdout)).toEqual({ redriven: [m1.messageId] });
    expect(json((await ctl('dead-letters')).stdout)).toEqual({ deadLetters: [], total: 0 });
  });

  it('refuses extra arguments with a usage error', async () => {
    const r = await ctl('dead-letters', 'x');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('usage: ratchetd ctl dead-letters');
  });
});
