/**
 * The hole timer's bookkeeping (group-holes.ts), on an injected clock: a hole is asked for after its
 * wait, again after twice, four times … the wait, at most MAX_HOLE_ASKS times; a filled hole, or a
 * hole that moved, ends or restarts its wait; reordered copies that fill the hole in time cost
 * nothing; at most MAX_TRACKED_HOLES pairs are tracked.
 */
import { describe, expect, it } from 'vitest';
import { recordSeq, startSeqLog, type SeqLog } from '../../../core/group/index.ts';
import type { UserId } from '../../../core/user-id.ts';
import { GroupHoles, MAX_HOLE_ASKS, MAX_TRACKED_HOLES } from './group-holes.ts';

const S = 'senderrrrrrrrrrrrrrrrrrrrrrrrrrr' as UserId;
const log = (...seqs: number[]): SeqLog => seqs.reduce((l, s) => recordSeq(l, s).next, startSeqLog(1));

describe('group seq-log holes', () => {
  it('asks after the wait, then after doubling waits, at most MAX_HOLE_ASKS times', () => {
    const h = new GroupHoles(1000);
    h.note('g', S, log(1, 3), 0);
    expect(h.due(999)).toEqual([]);
    const asks: number[] = [];
    for (let t = 0; t <= 1000 * 2 ** (MAX_HOLE_ASKS + 1); t += 50) if (h.due(t).length > 0) asks.push(t);
    expect(asks).toEqual([1000, 3000, 7000, 15000, 31000].slice(0, MAX_HOLE_ASKS));
    expect(h.size).toBe(0);
  });

  it('a hole filled within the wait (a reordered copy) is never asked for; a moved hole waits again', () => {
    const h = new GroupHoles(1000);
    h.note('g', S, log(1, 3), 0);
    h.note('g', S, log(1, 2, 3), 500);
    expect(h.due(5000)).toEqual([]);
    h.note('g', S, log(1, 3, 5), 0);
    h.note('g', S, log(1, 2, 3, 5), 900); // upTo moved to 3, seq 4 still missing: a new wait from 900
    expect(h.due(1500)).toEqual([]);
    expect(h.due(1900)).toEqual([{ group: 'g', sender: S }]);
    h.forget('g');
    expect(h.size).toBe(0);
  });

  it('tracks at most MAX_TRACKED_HOLES pairs', () => {
    const h = new GroupHoles(1);
    for (let i = 0; i < MAX_TRACKED_HOLES + 10; i++) h.note(`g${i}`, S, log(1, 3), 0);
    expect(h.size).toBe(MAX_TRACKED_HOLES);
  });
});
