/**
 * A client of the daemon's grpc.health.v1.Health service (what `ratchetd ctl health` asks): the
 * serving status of the whole server (service ""), which the daemon reports SERVING only while it
 * runs and is connected to its relay (server.ts). Same connection options as the Messenger client.
 */
import { resolve } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import type { ConnectOptions } from './client.ts';
import { toCallError } from './call-error.ts';

export type ServingStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';

type CheckMethod = (
  request: { service: string },
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (err: grpc.ServiceError | null, response?: { status?: unknown }) => void,
) => void;

const HealthClient = grpc.makeGenericClientConstructor(healthService as unknown as grpc.ServiceDefinition, 'Health');

/** The serving status of `service` ("" = the whole server); rejects with ApiCallError (e.g. UNAVAILABLE, DEADLINE_EXCEEDED). */
export async function checkHealth(options: ConnectOptions, timeoutMs: number, service = ''): Promise<ServingStatus> {
  let target: string;
  if (options.socketPath !== undefined) target = `unix:${resolve(options.socketPath)}`;
  else if (options.tcp !== undefined) target = options.tcp;
  else throw new Error('checkHealth needs socketPath or tcp');
  const client = new HealthClient(target, grpc.credentials.createInsecure(), { 'grpc.enable_channelz': 0 });
  const metadata = new grpc.Metadata();
  if (options.token !== undefined) metadata.set('authorization', `Bearer ${options.token}`);
  try {
    return await new Promise<ServingStatus>((done, fail) => {
      (client as unknown as { Check: CheckMethod }).Check({ service }, metadata, { deadline: Date.now() + timeoutMs }, (err, response) => {
        if (err) return fail(toCallError(err));
        const status = response?.status;
        // proto-loader without enum options gives the number: 0 UNKNOWN, 1 SERVING, 2 NOT_SERVING, 3 SERVICE_UNKNOWN
        const names: ServingStatus[] = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];
        return done(typeof status === 'number' ? (names[status] ?? 'UNKNOWN') : ((String(status) as ServingStatus) ?? 'UNKNOWN'));
      });
    });
  } finally {
    client.close();
  }
}
