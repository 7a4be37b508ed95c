// The harness example of bots/README.md, verbatim (only the import path differs).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startNetwork, type Network } from '../bots/harness/network.ts';

let net: Network;
beforeAll(async () => {
  net = await startNetwork({ daemons: 2 });
});
afterAll(() => net.stop());

it('alice reaches bob, even across a crash of his daemon', async () => {
  const alice = net.daemon(0);
  const bob = net.daemon(1);
  await alice.bot.send(bob.userId, 'hello bob');
  expect((await bob.bot.waitForMessage((m) => m.from === alice.userId)).text).toBe('hello bob');

  await net.restartDaemon(1, { signal: 'SIGKILL' }); // same data dir and socket; bob.bot reconnects
  await bob.bot.send(alice.userId, 'back');
  expect((await alice.bot.waitForMessage()).text).toBe('back');
});
