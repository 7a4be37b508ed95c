/**
 * Test fixture: runs createBroker in its own process so a test can SIGKILL it.
 *   node --import tsx broker/test-fixtures/broker-child.ts <dataDir | redis://URL> [maxQueuedPerClient] [messageTtlMs] [port]
 * (node with tsx's loader: one process, so a SIGKILL really kills the broker). A redis:// URL runs
 * a cluster node on that Redis instead of LevelDB in dataDir.
 * Prints one JSON ready line ({"event":"ready","mqtt":URL}) on stdout; SIGTERM closes cleanly.
 */
import { createBroker } from '../index.ts';

const [store, maxQueued, ttl, port] = process.argv.slice(2);
if (store === undefined) {
  process.stderr.write('usage: broker-child.ts <dataDir | redis://URL> [maxQueuedPerClient] [messageTtlMs] [port]\n');
  process.exit(2);
}
const broker = createBroker({
  ...(store.startsWith('redis://') ? { redisUrl: store } : { dataDir: store }),
  port: port === undefined ? 0 : Number(port),
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
