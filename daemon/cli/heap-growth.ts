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
 * While file chunks cross the relay the factor is 1 + FILE_HEAP_GROWING_PERCENT/100 instead,
 * until FILE_QUIET_MS pass without one (fileHeapGrowth). Every chunk passes through a few 64 KiB
 * buffers (socket reads, mqtt-packet's payload), and at 1.5 a 256 MiB transfer made each daemon run
 * a full collection every ~200 ms, 30–80 in all, about a quarter of its CPU (bench:file). Not while
 * a file is sealed: at 2.5 an upload's garbage (socket reads, gRPC requests) took a 96 MiB upload on
 * Node 24 to + 48–65 MiB over idle against the 64 a transfer may add (+ 20 at 1.5).
 */
import v8 from 'node:v8';

/** The old generation may grow to (1 + this/100) × the live heap before the next full collection. */
export const HEAP_GROWING_PERCENT = 50;
/** The broker's: it keeps little on its heap and moves every chunk through a few buffers (bench:file). */
export const BROKER_HEAP_GROWING_PERCENT = 150;
/** The same while file bytes move. */
export const FILE_HEAP_GROWING_PERCENT = 150;
/** Back to HEAP_GROWING_PERCENT once no file bytes moved for this long (ms). */
export const FILE_QUIET_MS = 2000;

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

/**
 * The engine's onFileBytes: the first call sets FILE_HEAP_GROWING_PERCENT, later ones push back the
 * return to HEAP_GROWING_PERCENT, which comes `quietMs` after the last. Does nothing when node was
 * started with the operator's own factor.
 */
export function fileHeapGrowth(env: HeapGrowthEnvironment = NODE_ENVIRONMENT, quietMs = FILE_QUIET_MS): () => void {
  if (operatorChose(env)) return () => undefined;
  let quiet: NodeJS.Timeout | undefined;
  return () => {
    if (quiet !== undefined) {
      quiet.refresh();
      return;
    }
    env.setFlags(growingFlag(FILE_HEAP_GROWING_PERCENT));
    quiet = setTimeout(() => {
      quiet = undefined;
      env.setFlags(growingFlag(HEAP_GROWING_PERCENT));
    }, quietMs);
    quiet.unref();
  };
}
