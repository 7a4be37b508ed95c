/**
 * The scaffolding engine test files share: a fresh in-process network (TestNet) per test and the
 * daemons started on it, closed after the test. `engineTestScope()` at module level registers both
 * hooks; `scope.net` is the running test's network.
 */
import { afterEach, beforeEach } from 'vitest';
import { createTestNet, restartTestDaemon, startTestDaemon, type TestDaemon, type TestDaemonOptions, type TestNet } from './test-support.ts';

/** What the scope closes after the test: a daemon and its event subscription. */
export type ScopedDaemon = Pick<TestDaemon, 'daemon' | 'unsubscribe'>;

export interface EngineTestScopeOptions {
  /** Ignore a daemon's close error after the test (e.g. daemons on a disk that can lose power). */
  ignoreCloseErrors?: boolean;
}

export class EngineTestScope {
  private current: TestNet | undefined;
  private readonly running: ScopedDaemon[] = [];

  constructor(private readonly options: EngineTestScopeOptions = {}) {}

  /** The running test's network. */
  get net(): TestNet {
    if (this.current === undefined) throw new Error('engineTestScope: no test is running');
    return this.current;
  }

  async begin(): Promise<void> {
    this.current = await createTestNet();
  }

  /** Starts a daemon on the network; it is closed after the test. */
  async start(o: TestDaemonOptions = {}): Promise<TestDaemon> {
    const d = await startTestDaemon(this.net, o);
    this.running.push(d);
    return d;
  }

  /** Closes `d` after the test too: a daemon the scope did not start (e.g. on a store of its own). */
  track<D extends ScopedDaemon>(d: D): D {
    this.running.push(d);
    return d;
  }

  /**
   * Closes a daemon before the test ends (its store stays, for a restart or an inspection);
   * `ignoreErrors`: a close error is ignored (its disk lost power: the process died with it).
   */
  async stop(d: ScopedDaemon, { ignoreErrors = false }: { ignoreErrors?: boolean } = {}): Promise<void> {
    this.forget(d);
    d.unsubscribe();
    await (ignoreErrors ? d.daemon.close().catch(() => undefined) : d.daemon.close());
  }

  /** Closes the daemon and starts it again on the same store. */
  async restart(d: TestDaemon, o: TestDaemonOptions = {}): Promise<TestDaemon> {
    this.forget(d);
    const again = await restartTestDaemon(this.net, d, o);
    this.running.push(again);
    return again;
  }

  async end(): Promise<void> {
    for (const d of this.running.splice(0)) {
      d.unsubscribe();
      await (this.options.ignoreCloseErrors === true ? d.daemon.close().catch(() => undefined) : d.daemon.close());
    }
    this.current = undefined;
  }

  private forget(d: ScopedDaemon): void {
    const i = this.running.indexOf(d);
    if (i >= 0) this.running.splice(i, 1);
  }
}

/** A scope for this test file: a new network before each test, its daemons closed after. */
export function engineTestScope(options: EngineTestScopeOptions = {}): EngineTestScope {
  const scope = new EngineTestScope(options);
  beforeEach(() => scope.begin());
  afterEach(() => scope.end());
  return scope;
}
