/**
 * A throw-away redis-server for tests and the benchmark: its own port and directory, no RDB
 * snapshots, AOF on (so it survives its own restart, as a production relay's Redis must), and a
 * random password. The password keeps clusters apart on a shared machine: a broker node of another
 * test whose Redis died keeps reconnecting to that port, and a new Redis that got the port would
 * otherwise take it in — and with it that node's session takeovers and subscriptions (seen here).
 */
import { randomBytes } from 'node:crypto';
import { startExternal } from './external-process.ts';
import type { ExternalProcess } from './external-process.ts';

export const REDIS_SERVER = process.env['RATCHETD_REDIS_SERVER'] ?? 'redis-server';

export interface RunningRedis extends ExternalProcess {
  /** redis://:PASSWORD@127.0.0.1:PORT */
  readonly url: string;
  readonly password: string;
}

/** Starts redis-server in `dir` (AOF files go there). `port` and `password` restart it as it was. */
export async function startRedis(dir: string, port?: number, password = randomBytes(16).toString('hex')): Promise<RunningRedis> {
  const args = (p: number): string[] => [
    '--requirepass', password,
    '--port', String(p),
    '--bind', '127.0.0.1',
    '--save', '',
    '--appendonly', 'yes',
    '--dir', dir,
    '--daemonize', 'no',
  ];
  const proc = await startExternal({ command: REDIS_SERVER, args, port });
  return Object.assign(proc, { url: `redis://:${password}@127.0.0.1:${proc.port}`, password });
}
