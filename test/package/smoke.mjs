// The package smoke test's program (test/package/smoke.sh copies it into a fresh project that has
// only `npm install ./ratchetd-*.tgz`): plain JavaScript, every public entry point, and a message
// between two daemons of a throwaway network. Prints one JSON line; exits non-zero on any failure.
import assert from 'node:assert/strict';
import { ApiCallError, connectMessenger } from 'ratchetd';
import { connect } from 'ratchetd/bots';
import { startNetwork } from 'ratchetd/harness';

/** Bounds the whole exchange: a hang is a failure with a message, not a stuck CI job. */
const SMOKE_TIMEOUT_MS = 60_000;
const timer = setTimeout(() => {
  process.stderr.write(`smoke: no result within ${SMOKE_TIMEOUT_MS} ms\n`);
  process.exit(1);
}, SMOKE_TIMEOUT_MS);

assert.equal(typeof connect, 'function');
assert.equal(typeof ApiCallError, 'function');

const net = await startNetwork({ daemons: 2 });
try {
  const alice = net.daemon(0);
  const bob = net.daemon(1);
  assert.notEqual(alice.userId, bob.userId);

  await alice.bot.send(bob.userId, 'hello from the package');
  const received = await bob.bot.waitForMessage((m) => m.from === alice.userId, { timeoutMs: 30_000 });
  assert.equal(received.text, 'hello from the package');

  // The API client (`ratchetd`) on the same daemon, apart from the SDK.
  const client = connectMessenger({ socketPath: bob.socket });
  try {
    assert.equal((await client.getIdentity()).userId, bob.userId);
    const contacts = await client.listContacts();
    assert.ok(contacts.some((c) => c.userId === alice.userId));
  } finally {
    client.close();
  }
  process.stdout.write(`${JSON.stringify({ ok: true, node: process.version, from: alice.userId, to: bob.userId, text: received.text })}\n`);
} finally {
  await net.stop();
  clearTimeout(timer);
}
