/**
 * Receive replays a large unacked inbox at the client's pace: the daemon reads the store a page at
 * a time and hands the next message to the stream only when the transport has drained, so what it
 * holds for a slow client stays bounded whatever the inbox size. A real engine (memory store, fake
 * relay) behind the real gRPC server; the count measured is events handed out by the engine and not
 * yet read by the client (daemon buffers + transport + client buffers), never a duration.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { UserId } from '../../core/user-id.ts';
import { createMemoryBackend } from '../store/memory-backend.ts';
import { openMemoryStore } from '../store/open-store.ts';
import { Inbox } from '../engine/inbox.ts';
import { createTestNet, silentLogger, startTestDaemon, type TestDaemon } from '../engine/test-support.ts';
import { Transaction } from '../engine/transaction.ts';
import type { MessengerBackend } from './backend.ts';
import { connectMessenger, type MessengerClient } from './client.ts';
import { createApiServer, type ApiServer } from './server.ts';

const MESSAGES = 20_000;
const BODY_BYTES = 256;
/**
 * What may be in flight between the engine and a client that does not read: the stream's write
 * buffer (16), HTTP/2 flow-control windows and socket buffers (a few hundred KiB: ~1,000 events of
 * this size), the client's read buffer. The whole inbox is 20,000.
 */
const MAX_IN_FLIGHT = 3_000;

let daemon: TestDaemon | undefined;
let server: ApiServer | undefined;
let client: MessengerClient | undefined;
let dir: string | undefined;
afterEach(async () => {
  client?.close();
  await server?.close();
  daemon?.unsubscribe();
  await daemon?.daemon.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  daemon = server = client = dir = undefined;
});

describe('Receive: replay flow control', () => {
  it(`replays ${MESSAGES} unacked messages to a slow reader with at most ${MAX_IN_FLIGHT} handed out and unread, in order`, async () => {
    const net = await createTestNet();
    const backend = createMemoryBackend();
    const storeKey = net.crypto.randomBytes(32);
    const from = 'c'.repeat(32) as UserId;
    {
      const store = await openMemoryStore(net.crypto, storeKey, backend);
      const inbox = new Inbox(store, silentLogger);
      await inbox.load();
      for (let start = 0; start < MESSAGES; start += 1000) {
        const tx = new Transaction();
        const batch = Array.from({ length: 1000 }, (_, i) => ({
          messageId: net.crypto.randomBytes(16),
          from,
          body: new Uint8Array(BODY_BYTES).fill((start + i) % 251),
          contentType: 'application/octet-stream',
          sentAt: start + i,
        }));
        await inbox.add(tx, batch, 1);
        await tx.commit(store);
      }
      await store.close();
    }
    daemon = await startTestDaemon(net, { backend: backend.reopen(), storeKey, subscribeAfter: false });

    let handed = 0;
    let received = 0;
    let maxInFlight = 0;
    const engine = daemon.daemon.backend;
    const counting: MessengerBackend = {
      ...engine,
      subscribe: (cursor, onEvent, options) =>
        engine.subscribe(
          cursor,
          (e) => {
            if (e.kind === 'message') {
              handed += 1;
              maxInFlight = Math.max(maxInFlight, handed - received);
            }
            onEvent(e);
          },
          options,
        ),
    };
    dir = await mkdtemp(join(tmpdir(), 'ratchetd-receive-flow-'));
    const socketPath = join(dir, 'api.sock');
    server = createApiServer({ backend: counting, socketPath, logger: silentLogger });
    await server.start();
    client = connectMessenger({ socketPath });

    const cursors: number[] = [];
    for await (const e of client.receive()) {
      if (e.kind === 'caughtUp') break;
      if (e.kind !== 'message') continue;
      received += 1;
      cursors.push(e.message.cursor);
      // A slow reader: it yields to the event loop (the daemon's side runs) after every message.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    expect(received).toBe(MESSAGES);
    expect(cursors.every((c, i) => i === 0 || c > cursors[i - 1]!)).toBe(true);
    expect(maxInFlight).toBeLessThanOrEqual(MAX_IN_FLIGHT);
  }, 120_000);
});
