/**
 * How far V8 lets the daemon's heap grow between two full collections.
 *
 * After each mark-compact V8 sets the next one's trigger at the live heap times a factor it derives
 * from how fast the program fills the old generation against how fast it collects: between 1.1 when
 * collecting is cheap and, when it is busy, 4.0 (V8's largest, used with a large heap limit such as
 * node's default on a 64-bit machine with a few GB of memory). A busy daemon gets 4.0. Its live heap
 * is about 27 MB and stays there (bench:soak --memory-detail: the heap used after every full
 * collection is flat over 100,000 messages), but the old generation then fills to 80–110 MB, most
 * of it garbage, before the next collection, and V8 keeps most of those pages afterwards: RSS sits
 * up to 50–70 MB above what the daemon holds, up and down with the traffic.
 *
 * The daemon sets V8's factor to a fixed 1 + HEAP_GROWING_PERCENT/100 at start instead
 * (`--heap-growing-percent`, read at every collection, so it takes effect when set at run time):
 * the next trigger is then max(1.5 × live, live + 8 MB) plus the young generation's size, about
 * what V8 picks by itself at a low message rate. It costs more full collections when busy: they
 * mark the live heap concurrently, on another core, with a short pause on the main thread
 * (README "Benchmarks", Soak). A node flag given by the operator (`node --heap-growing-percent=N
 * …/ratchetd daemon …`) wins.

 *
 * Not raised while file chunks move, although at 1.5 a 256 MiB transfer makes each daemon run a
 * full collection every ~200 ms (30–80 per file; at 2.5 a handful, a quarter less CPU in bench:file):
 * the larger factor lingers into the next upload, and a 96 MiB upload on Node 24 then peaked at
 * + 46–73 MiB over idle against the 64 a transfer may add (+ 22–31 at 1.5; test/http-files.test.ts).
 * The broker (BROKER_HEAP_GROWING_PERCENT) has no such bound.
 */
import v8 from 'node:v8';

/** The old generation may grow to (1 + this/100) × the live heap before the next full collection. */
export const HEAP_GROWING_PERCENT = 50;
/** The broker's: it keeps little on its heap and moves every chunk through a few buffers (bench:file). */
export const BROKER_HEAP_GROWING_PERCENT = 150;

const FLAG = /^--heap[-_]growing[-_]percent(=|$)/;

export interface HeapGrowthEnvironment {
  /** node's own arguments (process.execArgv): V8 flags given there win. */
  readonly execArgv: readonly string[];
  readonly setFlags: (flags: string) => void;
}

const NODE_ENVIRONMENT: HeapGrowthEnvironment = { execArgv: process.execArgv, setFlags: (f) => v8.setFlagsFromString(f) };

const growingFlag = (percent: number): string => `--heap-growing-percent=${percent}`;
const operatorChose = (env: HeapGrowthEnvironment): boolean => env.execArgv.some((a) => FLAG.test(a));

/** Sets V8's heap growing factor unless node was started with one; returns the flag set, if any. */
export function capHeapGrowth(env: HeapGrowthEnvironment = NODE_ENVIRONMENT, percent = HEAP_GROWING_PERCENT): string | undefined {
  if (operatorChose(env)) return undefined;
  const flag = growingFlag(percent);
  env.setFlags(flag);
  return flag;
}
