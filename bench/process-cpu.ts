/** What the system benchmarks share about the processes they start. */
import { readFile } from 'node:fs/promises';

/** Extra node flags for the broker and daemon processes, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof". */
export const BENCH_NODE_ARGS = (process.env['RATCHETD_BENCH_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== '');

/** CPU time (user + system, all threads) a process has used so far, in ms; Linux /proc. */
export async function processCpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}
