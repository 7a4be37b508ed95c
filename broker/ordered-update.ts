/**
 * Keeps live delivery to a persistent session (clean:false) in publish order. Before writing a QoS 1
 * packet to such a client, Aedes records the message id it assigned with persistence.outgoingUpdate,
 * and writes the packet when that resolves. With aedes-persistence-level the update was several
 * LevelDB operations and completed out of order under load, so a subscriber received 100–150 of 500
 * pipelined messages out of order (measured; none lost). Completing each client's updates in call
 * order (the order Aedes emitted the packets) restores publish order; the writes still run
 * concurrently. Order still is not guaranteed after a restart: receivers order by the sequence
 * number inside the encryption. The batched persistence answers an update from memory, but one that
 * misses its cache reads the database and could still be overtaken: the wrapper stays.
 */

export interface UpdatePersistence {
  outgoingUpdate(client: { readonly id: string }, packet: unknown): Promise<unknown>;
}

/** Wraps the persistence in place. Call once, before clients connect. */
export function orderUpdateCompletion(persistence: UpdatePersistence): void {
  const update = persistence.outgoingUpdate.bind(persistence);
  /** clientId → completion of its latest update (removed when its chain goes idle). */
  const tails = new Map<string, Promise<unknown>>();

  persistence.outgoingUpdate = (client, packet) => {
    const previous = tails.get(client.id) ?? Promise.resolve();
    const op = update(client, packet); // starts now
    // Handled at once: a failure before the earlier updates settle must not be an unhandled
    // rejection (Node ends the process); the caller still gets it through inOrder.
    op.catch(() => undefined);
    const inOrder = previous.then(
      () => op,
      () => op,
    );
    const tail = inOrder.catch(() => undefined); // an earlier failure does not block later updates
    tails.set(client.id, tail);
    void tail.then(() => {
      if (tails.get(client.id) === tail) tails.delete(client.id);
    });
    return inOrder;
  };
}
