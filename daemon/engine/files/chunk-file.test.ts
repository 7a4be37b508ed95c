/**
 * PipelinedChunkWrites: at most `depth` writes at once, each buffer handed back once written, a
 * background sync every `syncEvery` chunks that drain() waits for, and the first failure (of a write
 * or a sync) thrown by the next call.
 */
import { describe, expect, it } from 'vitest';
import { PipelinedChunkWrites } from './chunk-file.ts';

/** A file whose writes and syncs finish when the test says so. */
function controlledFile() {
  const writes: Array<{ index: number; done: (err?: Error) => void }> = [];
  const syncs: Array<(err?: Error) => void> = [];
  const settle = (resolve: () => void, reject: (e: Error) => void) => (err?: Error) => (err === undefined ? resolve() : reject(err));
  return {
    writes,
    syncs,
    write: (index: number) => new Promise<void>((resolve, reject) => writes.push({ index, done: settle(resolve, reject) })),
    sync: () => new Promise<void>((resolve, reject) => syncs.push(settle(resolve, reject))),
  };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('PipelinedChunkWrites', () => {
  it('keeps `depth` writes under way, hands each buffer back once written, and syncs every syncEvery chunks in the background', async () => {
    const file = controlledFile();
    const back: Uint8Array[] = [];
    const w = new PipelinedChunkWrites(file, 2, (b) => back.push(b), 3);
    const bufs = [0, 1, 2, 3].map((i) => Uint8Array.of(i));
    await w.write(0, bufs[0]!);
    let third = false;
    const second = w.write(1, bufs[1]!).then(() => (third = true));
    await tick();
    expect([file.writes.length, third]).toEqual([2, false]); // the second waits: two are under way
    file.writes[0]!.done();
    await second;
    expect(back).toEqual([bufs[0]]);
    const thirdWrite = w.write(2, bufs[2]!); // two under way again: waits for one
    file.writes[1]!.done();
    await thirdWrite;
    file.writes[2]!.done();
    await tick();
    expect([back.length, file.syncs.length]).toEqual([3, 1]); // three written: a sync started
    await w.write(3, bufs[3]!);
    file.writes[3]!.done();
    let drained = false;
    const drain = w.drain().then(() => (drained = true));
    await tick();
    expect(drained).toBe(false); // drain waits for the background sync
    file.syncs[0]!();
    await drain;
    expect(back).toEqual(bufs);
  });

  it('a failed write or sync is thrown by the next write or by drain', async () => {
    const file = controlledFile();
    const w = new PipelinedChunkWrites(file, 4, () => undefined);
    await w.write(0, Uint8Array.of(0));
    file.writes[0]!.done(new Error('disk full'));
    await tick();
    await expect(w.write(1, Uint8Array.of(1))).rejects.toThrow('disk full');
    await expect(w.drain()).rejects.toThrow('disk full');

    const synced = controlledFile();
    const s = new PipelinedChunkWrites(synced, 4, () => undefined, 1);
    await s.write(0, Uint8Array.of(0));
    synced.writes[0]!.done();
    await tick();
    synced.syncs[0]!(new Error('EIO'));
    await expect(s.drain()).rejects.toThrow('EIO');
  });
});
