/**
 * `ratchetd daemon`'s HTTP and webhook flags: mistakes are one clear line and exit 2 before
 * anything starts; an unusable secret file is exit 1; --help documents them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './spawn-cli.ts';

let dir = '';
afterEach(async () => {
  if (dir !== '') await rm(dir, { recursive: true, force: true });
});

describe('ratchetd daemon --http / --webhook', () => {
  it('refuses flag mistakes with a usage error', async () => {
    dir = await mkdtemp(join(tmpdir(), 'ratchetd-flags-'));
    const base = ['daemon', '--data', join(dir, 'd'), '--broker', 'mqtt://127.0.0.1:1'];
    const cases: Array<[string[], string]> = [
      [['--webhook', 'http://127.0.0.1:9/hook'], '--webhook needs --webhook-secret-file'],
      [['--webhook-secret-file', join(dir, 's')], '--webhook-secret-file only makes sense with --webhook'],
      [['--http-token-file', join(dir, 't')], '--http-token-file only makes sense with --http'],
      [['--webhook', 'ftp://example/x', '--webhook-secret-file', join(dir, 's')], '--webhook must use http:// or https://'],
      [['--webhook', 'not a url', '--webhook-secret-file', join(dir, 's')], '--webhook must be an http:// or https:// URL'],
      [['--http', 'localhost'], '--http must be HOST:PORT'],
    ];
    for (const [flags, message] of cases) {
      const r = await runCli([...base, ...flags]);
      expect([r.code, r.stdout]).toEqual([2, '']);
      expect(r.stderr).toContain(message);
    }
  });

  it('the flags can be RATCHETD_ variables, like every flag', async () => {
    dir = await mkdtemp(join(tmpdir(), 'ratchetd-flags-'));
    const r = await runCli(['daemon', '--data', join(dir, 'd'), '--broker', 'mqtt://127.0.0.1:1'], { env: { RATCHETD_WEBHOOK: 'http://127.0.0.1:9/hook' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('RATCHETD_WEBHOOK (--webhook) needs --webhook-secret-file');
    const help = await runCli(['daemon', '--help']);
    for (const v of ['RATCHETD_HTTP', 'RATCHETD_HTTP_TOKEN_FILE', 'RATCHETD_WEBHOOK', 'RATCHETD_WEBHOOK_SECRET_FILE']) expect(help.stdout).toContain(v);
  });

  it('an unreadable or empty secret file is a runtime failure, named', async () => {
    dir = await mkdtemp(join(tmpdir(), 'ratchetd-flags-'));
    await writeFile(join(dir, 'empty'), '\n');
    for (const [file, why] of [[join(dir, 'missing'), 'ENOENT'], [join(dir, 'empty'), 'empty']] as const) {
      const r = await runCli(['daemon', '--data', join(dir, 'd'), '--broker', 'mqtt://127.0.0.1:1', '--webhook', 'http://127.0.0.1:9/', '--webhook-secret-file', file]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`cannot use the webhook secret file ${file}`);
      expect(r.stderr).toContain(why);
    }
  });

  it('--help documents the flags', async () => {
    const r = await runCli(['daemon', '--help']);
    expect(r.code).toBe(0);
    for (const flag of ['--http HOST:PORT', '--http-token-file F', '--webhook URL', '--webhook-secret-file F']) expect(r.stdout).toContain(flag);
  });
});
