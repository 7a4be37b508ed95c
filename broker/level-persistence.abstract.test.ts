/**
 * The abstract test suite aedes-persistence ships for every persistence (node_modules/
 * aedes-persistence/abstract.js, 60-odd tests written for node:test), run against the batched
 * LevelDB persistence — the same way aedes-persistence-level runs it (a fresh database per test,
 * `testAsync`: the promise interface Aedes 1.x calls). The suite's `t` is adapted to vitest: its
 * assertions are node:assert's (loose, as node:test's t.assert is), and t.plan(n) is checked at
 * the end of each test.
 */
import assert from 'node:assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { afterAll, describe, expect, it } from 'vitest';
import { LevelPersistence } from './level-persistence.ts';

type SuiteTest = (t: SuiteContext) => Promise<void>;
interface SuiteContext {
  plan(n: number): void;
  diagnostic(message: string): void;
  assert: Record<string, (...args: unknown[]) => void>;
}

const ASSERTIONS = ['equal', 'notEqual', 'deepEqual', 'notDeepEqual', 'ok', 'strictEqual', 'deepStrictEqual', 'ifError'] as const;

/** node:test's `test(name, fn)` as the suite calls it, registered as a vitest test. */
function nodeTestAsVitest(name: string, fn: SuiteTest): void {
  it(name, async () => {
    let planned: number | undefined;
    let made = 0;
    const checks: SuiteContext['assert'] = {};
    for (const method of ASSERTIONS) {
      const check = (assert as unknown as Record<string, (...args: unknown[]) => void>)[method] as (...args: unknown[]) => void;
      checks[method] = (...args: unknown[]) => {
        made++;
        check(...args);
      };
    }
    await fn({ plan: (n) => (planned = n), diagnostic: () => undefined, assert: checks });
    if (planned !== undefined) expect(made, `assertions made (t.plan(${planned}))`).toBe(planned);
  });
}

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function freshPersistence(sync: boolean): Promise<LevelPersistence> {
  const dir = await mkdtemp(join(tmpdir(), 'ratchetd-abstract-'));
  dirs.push(dir);
  const db = new Level<string, string>(dir, { valueEncoding: 'buffer' } as never);
  await db.open();
  return new LevelPersistence(db, { sync });
}

const abstractSuite = createRequire(import.meta.url)('aedes-persistence/abstract.js') as (opts: object) => void;

for (const sync of [false, true]) {
  describe(`aedes-persistence abstract suite: batched LevelDB persistence (sync ${sync})`, () => {
    abstractSuite({ test: nodeTestAsVitest, persistence: () => freshPersistence(sync), testAsync: true });
  });
}
