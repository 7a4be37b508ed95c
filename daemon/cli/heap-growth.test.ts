import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { BROKER_HEAP_GROWING_PERCENT, capHeapGrowth, HEAP_GROWING_PERCENT } from './heap-growth.ts';

const DAEMON_COMMAND = new URL('./daemon-command.ts', import.meta.url).href;
const BROKER_COMMAND = new URL('./broker-command.ts', import.meta.url).href;

/** Runs `script` (an ES module) in a fresh node with the TypeScript loader; resolves with its stdout. */
function runNode(nodeArgs: readonly string[], script: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', '--expose-gc', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * A command's `run…Command(args)` (with arguments that stop it at a usage error right after its
 * start), then garbage that V8 collects while tracing how it sets the next collection's trigger.
 * growingFactors reads the factor V8 used from its trace.
 */
const afterStart = (module: string, run: string, args: readonly string[]): string => `
import v8 from 'node:v8';
const { ${run} } = await import(${JSON.stringify(module)});
await ${run}(${JSON.stringify(args)}, {}).catch(() => undefined);
v8.setFlagsFromString('--trace-gc-verbose');
let kept = [];
for (let i = 0; i < 1e6; i++) kept.push({ i });
globalThis.gc();
kept = kept.slice(0, 5e5);
globalThis.gc();
`;
/** `ratchetd daemon` with no --data. */
const AFTER_DAEMON_START = afterStart(DAEMON_COMMAND, 'runDaemonCommand', []);

/**
 * The growing factors V8 used. Node 20 prints the factor it computed ("[HeapController] factor 4.0
 * based on …") and then the one it used ("[HeapController] Limit: … (1.5)"); Node 24 prints only the
 * one it used, on the factor line.
 */
function growingFactors(stdout: string): string[] {
  const used = [...stdout.matchAll(/\[HeapController\] Limit: .* \(([0-9.]+)\)/g)].map((m) => m[1]!);
  return used.length > 0 ? used : [...stdout.matchAll(/\[HeapController\] factor ([0-9.]+) based on/g)].map((m) => m[1]!);
}

describe('heap growth', () => {
  it('sets V8 heap growing factor to 1 + HEAP_GROWING_PERCENT/100', () => {
    const set: string[] = [];
    expect(capHeapGrowth({ execArgv: ['--enable-source-maps'], setFlags: (f) => set.push(f) })).toBe(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
    expect(set).toEqual([`--heap-growing-percent=${HEAP_GROWING_PERCENT}`]);
  });

  it("leaves the operator's own node flag alone", () => {
    for (const execArgv of [['--heap-growing-percent=300'], ['--heap_growing_percent=300'], ['--heap-growing-percent', '300']]) {
      const set: string[] = [];
      expect(capHeapGrowth({ execArgv, setFlags: (f) => set.push(f) })).toBeUndefined();
      expect(set).toEqual([]);
    }
  });

  it('a started daemon command collects at 1.5 × the live heap, not at V8 own factor (4.0 here)', async () => {
    const run = await runNode([], AFTER_DAEMON_START);
    expect(run.code, run.stderr).toBe(0);
    const factors = growingFactors(run.stdout);
    expect(factors.length).toBeGreaterThan(0);
    expect(new Set(factors)).toEqual(new Set([(1 + HEAP_GROWING_PERCENT / 100).toFixed(1)]));
  });

  it("a started broker command collects at 1 + BROKER_HEAP_GROWING_PERCENT/100 (2.5) × the live heap", async () => {
    const run = await runNode([], afterStart(BROKER_COMMAND, 'runBrokerCommand', ['--port', 'no-port']));
    expect(run.code, run.stderr).toBe(0);
    const factors = growingFactors(run.stdout);
    expect(factors.length).toBeGreaterThan(0);
    expect(new Set(factors)).toEqual(new Set([(1 + BROKER_HEAP_GROWING_PERCENT / 100).toFixed(1)]));
  });

  it("with the operator's node flag, V8 uses that", async () => {
    const run = await runNode(['--heap-growing-percent=250'], AFTER_DAEMON_START);
    expect(run.code, run.stderr).toBe(0);
    expect(new Set(growingFactors(run.stdout))).toEqual(new Set(['3.5']));
  });
});
