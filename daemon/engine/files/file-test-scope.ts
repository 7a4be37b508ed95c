/**
 * The scaffolding the file engine test files share: per test a fresh in-process network and a temp
 * root, daemons whose data dir (where their files live) is root/NAME, with small windows and a quick
 * resend (FAST); the daemons are closed after the test, then the root is removed.
 * `fileTestScope(label)` at module level registers both hooks.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { EngineTestScope } from '../test-scope.ts';
import type { TestDaemon, TestDaemonOptions, TestNet } from '../test-support.ts';
import type { FileOptions } from './file-options.ts';

export const FAST: Partial<FileOptions> = { windowChunks: 8, progressEveryChunks: 4, resendAfterMs: 300 };

export interface FileTestScope {
  /** The running test's network. */
  readonly net: TestNet;
  /** The running test's temp dir: daemon NAME keeps its data in root/NAME. */
  readonly root: string;
  /** Starts daemon `name` (FAST file options unless `o` says otherwise); it is closed after the test. */
  start(name: string, o?: TestDaemonOptions): Promise<TestDaemon>;
  /** Closes daemon `name` and starts it again on the same store and data dir. */
  restart(name: string, d: TestDaemon, o?: TestDaemonOptions): Promise<TestDaemon>;
  /** Closes a daemon before the test ends. */
  stop(d: TestDaemon): Promise<void>;
}

export function fileTestScope(label: string): FileTestScope {
  const scope = new EngineTestScope();
  let current: string | undefined;
  beforeEach(async () => {
    await scope.begin();
    current = mkdtempSync(join(tmpdir(), `ratchetd-${label}-`));
  });
  afterEach(async () => {
    await scope.end();
    rmSync(root(), { recursive: true, force: true });
    current = undefined;
  });
  const root = (): string => {
    if (current === undefined) throw new Error('fileTestScope: no test is running');
    return current;
  };
  return {
    get net() {
      return scope.net;
    },
    get root() {
      return root();
    },
    start: (name, o = {}) => scope.start({ dataDir: join(root(), name), files: FAST, ...o }),
    restart: (name, d, o = {}) => scope.restart(d, { dataDir: join(root(), name), files: FAST, ...o }),
    stop: (d) => scope.stop(d),
  };
}
