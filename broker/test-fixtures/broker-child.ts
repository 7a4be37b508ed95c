/**
 * Test fixture: runs createBroker in its own process so a test can SIGKILL it.
 *   node --import tsx broker/test-fixtures/broker-child.ts <dataDir> [maxQueuedPerClient] [messageTtlMs]
 * (node with tsx's loader: one process, so a SIGKILL really kills the broker)
 * Prints one JSON ready line ({"event":"ready","mqtt":URL}) on stdout; SIGTERM closes cleanly.
 */
import { createBroker } from '../index.ts';

const [dataDir, maxQueued, ttl] = process.argv.slice(2);
if (dataDir === undefined) {
  process.stderr.write('usage: broker-child.ts <dataDir> [maxQueuedPerClient] [messageTtlMs]\n');
  process.exit(2);
}
const broker = createBroker({
  dataDir,
  port: 0,
  maxQueuedPerClient: maxQueued === undefined ? undefined : Number(maxQueued),
  messageTtlMs: ttl === undefined ? undefined : Number(ttl),
});
const { url } = await broker.start();
process.stdout.write(JSON.stringify({ event: 'ready', mqtt: url }) + '\n');
process.once('SIGTERM', () => {
  broker.close().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`close failed: ${String(err)}\n`);
      process.exit(1);
    },
  );
});
