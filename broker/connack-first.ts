/**
 * Work-around for an Aedes 1.2 ordering bug: a PUBLISH can reach a client before its CONNACK.
 *
 * MQTT 3.1.1 [MQTT-3.2.0-1]: the first packet the server sends on a connection is the CONNACK.
 * Aedes restores a returning persistent session's subscriptions (restoreSubs) before it writes the
 * CONNACK (after storeWill and registerClient, a few store round trips later). A live publish on a
 * restored topic in that window — a peer's message, through this node or from another cluster node
 * over Redis pub/sub — is written to the socket at once, ahead of the CONNACK. mqtt.js 5 (the
 * daemon's relay client) then stalls: it parks the PUBACK for that early PUBLISH until it is
 * connected and handles no further packet meanwhile, so it never reads the CONNACK queued behind
 * it and the connection fails with "connack timeout" (30 s), then reconnects. Seen in
 * test/relay-cluster.test.ts (bob reconnecting right after a message to him was published on the
 * other node: ~5% of runs of that step).
 *
 * The fix, in our code (node_modules untouched): every delivery to a connection (Aedes' per-client
 * deliver0 / deliverQoS, which the restored subscriptions call) is held until that connection's
 * CONNACK has been written, then run in arrival order. A connection that closes first releases them
 * too (Aedes then drops them as it does for any closed client).
 */
import type { Aedes } from 'aedes';

type Deliver = (packet: unknown, cb: (err?: unknown) => void) => void;

/** The parts of an Aedes Client used here (deliver0/deliverQoS/connackSent are not in its typings). */
interface DeliveringClient {
  deliver0: Deliver;
  deliverQoS: Deliver;
  connackSent: boolean;
  readonly conn: { once(event: 'close', listener: () => void): unknown };
}

/** Wraps `aedes.handle` in place so that no delivery precedes a connection's CONNACK. Call once, before clients connect. */
export function holdDeliveriesUntilConnack(aedes: Aedes): void {
  const releases = new WeakMap<object, () => void>();
  aedes.on('connackSent', (_packet, client) => releases.get(client)?.());
  const handle = aedes.handle.bind(aedes);
  aedes.handle = (stream, request) => {
    const client = handle(stream, request);
    const c = client as unknown as DeliveringClient;
    const held: Array<() => void> = [];
    let open = false;
    const release = (): void => {
      if (open) return;
      open = true;
      releases.delete(client);
      for (const run of held.splice(0)) run();
    };
    releases.set(client, release);
    c.conn.once('close', release);
    for (const name of ['deliver0', 'deliverQoS'] as const) {
      const deliver = c[name];
      c[name] = (packet, cb) => {
        if (open || c.connackSent) deliver(packet, cb);
        else held.push(() => deliver(packet, cb));
      };
    }
    return client;
  };
}
