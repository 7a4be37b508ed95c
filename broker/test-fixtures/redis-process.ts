/**
 * A throw-away redis-server for tests and the benchmark: its own port and directory, no RDB
 * snapshots, AOF on (so it survives its own restart, as a production relay's Redis must).
 */
import { startExternal } from './external-process.ts';
import type { ExternalProcess } from './external-process.ts';

export const REDIS_SERVER = process.env['RATCHETD_REDIS_SERVER'] ?? 'redis-server';

export interface RunningRedis extends ExternalProcess {
  /** redis://127.0.0.1:PORT */
  readonly url: string;
}

/** Starts redis-server in `dir` (AOF files go there). `port` restarts it where it was. */
export async function startRedis(dir: string, port?: number): Promise<RunningRedis> {
  const args = (p: number): string[] => [
    '--port', String(p),
    '--bind', '127.0.0.1',
    '--save', '',
    '--appendonly', 'yes',
    '--dir', dir,
    '--daemonize', 'no',
  ];
  const proc = await startExternal({ command: REDIS_SERVER, args, port });
  return Object.assign(proc, { url: `redis://127.0.0.1:${proc.port}` });
}
