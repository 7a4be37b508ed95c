/**
 * Engine-level reproductions of failures seen in the kill -9 fault runs (test/faults/), small enough
 * for `npm test`: each case drives the daemon engine through the in-process relay with one fault
 * injected at the moment the fault run hit it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { RelayError } from '../daemon/relay/errors.ts';
import { createDaemon, type Daemon } from '../daemon/engine/index.ts';
import { silentLogger, createTestNet } from '../daemon/engine/test-support.ts';
import type { RelayStatus, RelayTransport } from '../daemon/relay/transport.ts';
import { createMemoryBackend } from '../daemon/store/memory-backend.ts';
import { openMemoryStore } from '../daemon/store/open-store.ts';

const daemons: Daemon[] = [];
afterEach(async () => {
  // Bounded, so a regression (close() waiting for a start() that never ends) fails the test, not the hook.
  for (const d of daemons.splice(0)) await Promise.race([d.close(), new Promise((r) => setTimeout(r, 2_000))]);
});

/**
 * A relay transport whose connection drops right after the first CONNECT, while the start-up
 * bundle publish is in flight (the broker cut the connection: EPIPE), and comes back at once.
 */
function dropsDuringFirstBundlePublish(inner: RelayTransport, firstPublish: 'fails' | 'hangs' = 'fails'): RelayTransport & { drops: number } {
  const listeners: Array<(s: RelayStatus) => void> = [];
  let dropped = false;
  let down = false;
  let rejectHanging: ((e: Error) => void) | undefined;
  let resendOnReconnect: (() => void) | undefined;
  const t = {
    drops: 0,
    onEnvelope: (h: Parameters<RelayTransport['onEnvelope']>[0]) => inner.onEnvelope(h),
    onStatus(l: (s: RelayStatus) => void) {
      listeners.push(l);
      inner.onStatus((s) => {
        if (!down) l(s);
      });
    },
    start: () => inner.start(),
    whenConnected: () => inner.whenConnected(),
    get connected() {
      return !down && inner.connected;
    },
    publishEnvelope: (to: Parameters<RelayTransport['publishEnvelope']>[0], e: Uint8Array) => inner.publishEnvelope(to, e),
    fetchBundle: (id: Parameters<RelayTransport['fetchBundle']>[0]) => inner.fetchBundle(id),
    async publishBundle(bundle: Uint8Array) {
      if (down) throw new RelayError('BrokerUnavailable', 'not connected to the broker');
      if (!dropped) {
        dropped = true;
        t.drops += 1;
        down = true;
        for (const l of listeners) l('disconnected');
        // mqtt.js reconnects after its backoff; the relay is back a moment later (a dead broker:
        // later than connectWaitMs).
        setTimeout(
          () => {
            down = false;
            resendOnReconnect?.();
            for (const l of listeners) l('connected');
          },
          firstPublish === 'hangs' ? 2_000 : 20,
        );
        // mqtt.js keeps an in-flight QoS 1 publish for the next connection: it is resent and its
        // callback fires only when the broker is back (the broker process had died here).
        if (firstPublish === 'hangs') {
          return new Promise<void>((resolve, reject) => {
            rejectHanging = reject;
            resendOnReconnect = () => inner.publishBundle(bundle).then(resolve, reject);
          });
        }
        throw new RelayError('BrokerUnavailable', 'relay connection lost');
      }
      return inner.publishBundle(bundle);
    },
    close: () => {
      // Like mqtt-relay's close(): pending publishes reject.
      rejectHanging?.(new RelayError('BrokerUnavailable', 'relay closed'));
      return inner.close();
    },
  };
  return t;
}

async function startWithDrop(firstPublish: 'fails' | 'hangs') {
  const net = await createTestNet();
  let relay: (RelayTransport & { drops: number }) | undefined;
  const backend = createMemoryBackend();
  const storeKey = net.crypto.randomBytes(32);
  const daemon = createDaemon({
    dataDir: '/nonexistent-test-data-dir',
    brokerUrl: 'fake://relay',
    logger: silentLogger,
    crypto: net.crypto,
    openStore: (c) => openMemoryStore(c, storeKey, backend.reopen()),
    relay: (id) => (relay = dropsDuringFirstBundlePublish(net.hub.transport(id), firstPublish)),
    timing: { connectWaitMs: 1000 },
  });
  daemons.push(daemon);
  return { net, daemon, relay: () => relay };
}

describe('daemon start while the broker connection is unstable', () => {
  it('starts (offline is not fatal) when the connection drops during the start-up bundle publish, and publishes the bundle after the reconnect', async () => {
    const { net, daemon, relay: relayOf } = await startWithDrop('fails');
    // The fault run saw `ratchetd daemon` exit with "not connected to the broker" here.
    const { userId } = await daemon.start();
    expect(relayOf()?.drops).toBe(1);
    // After the reconnect the bundle is published, so others can start a session.
    for (let i = 0; i < 200 && !net.hub.retained.has(userId); i++) await new Promise((r) => setTimeout(r, 10));
    expect(net.hub.retained.has(userId)).toBe(true);
  });

  it('starts when the start-up bundle publish stays pending because the broker died right after CONNECT', async () => {
    const { net, daemon } = await startWithDrop('hangs');
    // The fault run saw no ready line for 30 s: start() waited for a PUBACK from a dead broker.
    const outcome = await Promise.race([
      daemon.start().then(({ userId }) => userId),
      new Promise<string>((resolve) => setTimeout(() => resolve('start() still pending after 5 s'), 5_000)),
    ]);
    expect(outcome).not.toBe('start() still pending after 5 s');
    for (let i = 0; i < 200 && !net.hub.retained.has(outcome as never); i++) await new Promise((r) => setTimeout(r, 10));
    expect(net.hub.retained.has(outcome as never)).toBe(true);
  });
});
