import { describe, expect, it } from 'vitest';
import { orderUpdateCompletion } from './ordered-update.ts';

function fakePersistence() {
  const resolvers = new Map<string, { resolve: () => void; reject: (e: Error) => void }>();
  const persistence = {
    outgoingUpdate(client: { id: string }, packet: unknown): Promise<unknown> {
      return new Promise<void>((resolve, reject) => resolvers.set(`${client.id}:${String(packet)}`, { resolve, reject }));
    },
  };
  return { persistence, resolvers };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe('orderUpdateCompletion', () => {
  it("completes one client's updates in call order, other clients independently", async () => {
    const { persistence, resolvers } = fakePersistence();
    orderUpdateCompletion(persistence);
    const done: string[] = [];
    for (const [id, n] of [['bob', 1], ['bob', 2], ['carol', 1], ['bob', 3]] as const) {
      void persistence.outgoingUpdate({ id }, n).then(() => done.push(`${id}:${n}`));
    }
    resolvers.get('bob:3')?.resolve();
    resolvers.get('carol:1')?.resolve();
    resolvers.get('bob:2')?.resolve();
    await tick();
    expect(done).toEqual(['carol:1']);
    resolvers.get('bob:1')?.resolve();
    await tick();
    expect(done).toEqual(['carol:1', 'bob:1', 'bob:2', 'bob:3']);
  });

  it('passes a failure to its own caller only, and later updates still complete', async () => {
    const { persistence, resolvers } = fakePersistence();
    orderUpdateCompletion(persistence);
    const first = persistence.outgoingUpdate({ id: 'bob' }, 1).then(
      () => 'ok',
      (e: Error) => e.message,
    );
    const second = persistence.outgoingUpdate({ id: 'bob' }, 2).then(() => 'ok');
    resolvers.get('bob:2')?.resolve();
    resolvers.get('bob:1')?.reject(new Error('no such packet'));
    expect(await first).toBe('no such packet');
    expect(await second).toBe('ok');
  });
});
