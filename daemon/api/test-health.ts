/**
 * Test support (used by *.test.ts only): a grpc.health.v1 Watch stream on a daemon's API, and a wait
 * for the status it reports next (event-driven: the server pushes every change).
 */
import { resolve } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';

const HealthClient = grpc.makeGenericClientConstructor(healthService as unknown as grpc.ServiceDefinition, 'Health');
const NAMES = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];

export interface HealthWatch {
  /** Every status the stream reported, in order. */
  readonly seen: string[];
  /** Resolves when the latest status is `status` (at once if it already is); rejects after `deadlineMs`. */
  until(status: string, deadlineMs?: number): Promise<void>;
  close(): void;
}

export function watchHealth(target: { socketPath: string } | { tcp: string; token: string }, service = ''): HealthWatch {
  const address = 'socketPath' in target ? `unix:${resolve(target.socketPath)}` : target.tcp;
  const client = new HealthClient(address, grpc.credentials.createInsecure());
  const metadata = new grpc.Metadata();
  if ('token' in target) metadata.set('authorization', `Bearer ${target.token}`);
  const stream = (client as unknown as { Watch: (req: object, md: grpc.Metadata) => grpc.ClientReadableStream<{ status: unknown }> }).Watch({ service }, metadata);
  const seen: string[] = [];
  let waiters: { status: string; done(): void }[] = [];
  stream.on('data', (res: { status: unknown }) => {
    const status = typeof res.status === 'number' ? (NAMES[res.status] ?? 'UNKNOWN') : String(res.status);
    seen.push(status);
    waiters = waiters.filter((w) => (w.status === status ? (w.done(), false) : true));
  });
  stream.on('error', () => undefined); // cancelled at close
  return {
    seen,
    until(status, deadlineMs = 30_000) {
      if (seen.at(-1) === status) return Promise.resolve();
      return new Promise((done, fail) => {
        const timer = setTimeout(() => fail(new Error(`health never reported ${status} (seen: ${seen.join(', ') || 'nothing'})`)), deadlineMs);
        waiters.push({ status, done: () => (clearTimeout(timer), done()) });
      });
    },
    close() {
      stream.cancel();
      client.close();
    },
  };
}
