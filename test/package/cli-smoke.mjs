// The package smoke test's CLI check (test/package/smoke.sh runs it in the fresh project): the
// installed `ratchetd` bin as the README's package quick start runs it: a broker and a daemon (each
// up once it prints its ready line), `npx ratchetd ctl … whoami` against the daemon, then SIGTERM
// and a clean exit. The long-running two start as node_modules/.bin/ratchetd (what npx runs):
// npx does not pass SIGTERM on to the command it started (measured with npm 11.19: npx exits, and
// ratchetd keeps running with init as its parent), so a supervisor must run the bin itself.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/** Per process: how long it may take to print its ready line (npx, then Node's startup, then ours). */
const READY_TIMEOUT_MS = 30_000;
const run = promisify(execFile);
const NPX = ['npx', '--no-install', 'ratchetd'];
const BIN = join(process.cwd(), 'node_modules', '.bin', 'ratchetd');

/** Starts `node_modules/.bin/ratchetd …args` and resolves with the child and its parsed ready line. */
function start(args) {
  const child = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr = (stderr + d).slice(-4_000)));
  const exited = new Promise((done) => child.once('close', (code, signal) => done({ code, signal })));
  const ready = new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`ratchetd ${args[0]}: no ready line within ${READY_TIMEOUT_MS} ms; stderr: ${stderr}`)), READY_TIMEOUT_MS);
    child.stdout.setEncoding('utf8').on('data', (d) => {
      out += d;
      const newline = out.indexOf('\n');
      if (newline < 0) return;
      clearTimeout(timer);
      try {
        resolve(JSON.parse(out.slice(0, newline)));
      } catch {
        reject(new Error(`ratchetd ${args[0]}: first line is not JSON: ${out.slice(0, 200)}`));
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`ratchetd ${args[0]} exited before it was ready (${signal ?? code}); stderr: ${stderr}`));
    });
  });
  return { child, exited, ready };
}

async function stop(p) {
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
  return p.exited;
}

const dir = await mkdtemp(join(tmpdir(), 'ratchetd-cli-smoke-'));
const started = [];
try {
  const broker = start(['broker', '--port', '0', '--data', join(dir, 'broker')]);
  started.push(broker);
  const brokerReady = await broker.ready;
  assert.equal(brokerReady.event, 'ready');
  assert.match(brokerReady.mqtt, /^mqtt:\/\/127\.0\.0\.1:\d+$/);

  const socket = join(dir, 'alice', 'api.sock');
  const daemon = start(['daemon', '--data', join(dir, 'alice'), '--broker', brokerReady.mqtt, '--socket', socket]);
  started.push(daemon);
  const daemonReady = await daemon.ready;
  assert.equal(daemonReady.socket, socket);

  const { stdout } = await run(NPX[0], [...NPX.slice(1), 'ctl', '--socket', socket, 'whoami']);
  assert.equal(JSON.parse(stdout).userId, daemonReady.userId);

  for (const p of started.reverse()) assert.equal((await stop(p)).code, 0, 'SIGTERM shuts down cleanly (exit 0)');
  started.length = 0;
  process.stdout.write(`${JSON.stringify({ ok: true, node: process.version, broker: brokerReady.mqtt, userId: daemonReady.userId })}\n`);
} finally {
  for (const p of started) await stop(p);
  await rm(dir, { recursive: true, force: true });
}
