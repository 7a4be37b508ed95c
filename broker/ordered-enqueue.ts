/**
 * Work-around for aedes#955 (open): live delivery withholds pipelined QoS 1 messages.
 *
 * Aedes numbers every packet with a per-broker counter (brokerCounter) and each client drops, as a
 * "duplicate", any live packet whose counter is not above the highest it has seen. A QoS 1 publish
 * first goes through persistence.outgoingEnqueueCombi (storing it for persistent subscribers) and
 * only then is emitted to live subscribers. With aedes-persistence-level those writes complete out of
 * order under pipelining, so packet N+1 can be emitted before N, and N is then withheld from the live
 * subscriber until it reconnects (2–10% of messages at 100 in flight; measured in
 * broker/pipelined.test.ts).
 *
 * The fix, in our code (node_modules untouched): the writes still start at once and run concurrently,
 * but each enqueue *completes* (and so is emitted) only after every earlier one. QoS 0 never enqueues
 * (and the ACL refuses it from clients).
 *
 * Kept with the batched LevelDB persistence (level-persistence.ts), whose writes complete in call
 * order by themselves: a publish no persistent session subscribes to completes its (empty) enqueue
 * at once, ahead of earlier ones waiting for their batch, and the in-memory and Redis persistences
 * give no order either. One promise per publish is cheap insurance.
 */

/** What is wrapped: Aedes' publish entry and the persistence's enqueue, as Aedes 1.x calls them. */
export interface OrderedBroker {
  /** Aedes' per-broker packet counter (the next packet gets counter + 1). Not in aedes' typings. */
  readonly counter: number;
  publish(packet: OrderedPacket, client: unknown, done?: (err?: Error | null) => void): void;
}

export interface EnqueuePersistence {
  outgoingEnqueueCombi(subs: unknown[], packet: OrderedPacket): Promise<unknown>;
}

export interface OrderedPacket {
  readonly qos?: number;
  readonly brokerCounter?: number;
}

interface Slot {
  /** Settles when every earlier packet's enqueue has completed. */
  readonly previous: Promise<void>;
  /** Marks this packet done (only after `previous`, so slots settle in order). Idempotent. */
  readonly settle: () => void;
}

export interface EnqueueOrderStats {
  /** Reserved slots not yet settled (0 when idle; a stuck slot would show here). */
  pending(): number;
  /** Resolves when every publish that entered so far has been enqueued (or failed). */
  idle(): Promise<void>;
}

/**
 * Wraps the broker's publish and the persistence's enqueue in place. Call once, before clients
 * connect. Each QoS>0 publish reserves its place when it enters Aedes (the moment its counter is
 * assigned), so a retained bundle, whose retained copy is stored before it is enqueued, cannot be
 * overtaken either. A reservation is released when the publish completes, whatever its outcome.
 */
export function orderEnqueueCompletion(broker: OrderedBroker, persistence: EnqueuePersistence): EnqueueOrderStats {
  const enqueue = persistence.outgoingEnqueueCombi.bind(persistence);
  const publish = broker.publish.bind(broker);
  const byCounter = new Map<number, Slot>();
  let tail: Promise<void> = Promise.resolve();
  let pending = 0;

  function reserve(): Slot {
    const previous = tail;
    let release!: () => void;
    tail = new Promise<void>((resolve) => {
      release = resolve;
    });
    pending++;
    let settled = false;
    const settle = (): void => {
      if (settled) return;
      settled = true;
      void previous.then(() => {
        pending--;
        release();
      });
    };
    return { previous, settle };
  }

  broker.publish = (packet, client, done) => {
    if (typeof client === 'function') {
      done = client as (err?: Error | null) => void;
      client = null;
    }
    if ((packet.qos ?? 0) === 0) return publish(packet, client, done);
    // Aedes' Packet keeps an existing brokerCounter, else takes ++broker.counter.
    const counter = packet.brokerCounter || broker.counter + 1;
    const slot = reserve();
    byCounter.set(counter, slot);
    publish(packet, client, (err) => {
      if (byCounter.get(counter) === slot) byCounter.delete(counter);
      slot.settle();
      done?.(err);
    });
  };

  persistence.outgoingEnqueueCombi = (subs, packet) => {
    const counter = packet.brokerCounter ?? -1;
    const slot = byCounter.get(counter) ?? reserve(); // unknown packet: order it by call instead
    byCounter.delete(counter);
    const op = enqueue(subs, packet); // start the write now: writes stay concurrent...
    op.catch(() => undefined); // (a failure before `previous` settles must not be an unhandled rejection)
    const inOrder = slot.previous.then(() => op); // ...but complete in publish order
    void inOrder.then(slot.settle, slot.settle);
    return inOrder;
  };

  return { pending: () => pending, idle: () => tail };
}
