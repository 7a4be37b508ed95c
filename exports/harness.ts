/**
 * `import { startNetwork } from 'ratchetd/harness'`: a throwaway ratchetd network (one broker, N
 * daemons as real processes, an SDK client on each) for your own integration tests.
 *
 *   const net = await startNetwork({ daemons: 2 });
 *   await net.daemon(0).bot.send(net.daemon(1).userId, 'hi');
 *   const { text } = await net.daemon(1).bot.waitForMessage();
 *   await net.stop();
 */
export { startNetwork, RATCHETD_BIN, type Network, type NetworkDaemon, type NetworkOptions, type ProcessExit } from '../bots/harness/network.ts';
export { ProcessStartError } from '../bots/harness/process.ts';
