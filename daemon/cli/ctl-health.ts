/**
 * `ratchetd ctl health`: exit 0 when the daemon serves and is connected to its relay, 1 otherwise
 * (unreachable, starting, stopping, offline, or no answer within --timeout). The verdict is the
 * daemon's own grpc.health.v1 status (SERVING exactly then: daemon/api/server.ts), so a gRPC health
 * probe and this command never disagree. One JSON line on stdout either way:
 *   {"healthy":true,"status":"SERVING","brokerConnected":true,"brokerUrl":"mqtts://…"}
 *   {"healthy":false,"status":"NOT_SERVING","brokerConnected":false,"brokerError":"…"}
 *   {"healthy":false,"error":"no daemon socket at /…/api.sock (is the daemon running?)"}
 * The broker fields come from GetStatus when the daemon answers it (absent otherwise).
 */
import { ApiCallError, connectMessenger, type ConnectOptions } from '../api/client.ts';
import { checkHealth } from '../api/health-client.ts';
import { CliFailure, parseNonNegativeInt, stringOption } from './args.ts';
import { connectOptions } from './ctl-connect.ts';
import { printJson } from './ctl-output.ts';

/** How long the health check waits for the daemon by default (s): well inside a supervisor's probe timeout. */
export const DEFAULT_HEALTH_TIMEOUT_S = 5;

async function brokerFields(options: ConnectOptions, timeoutMs: number): Promise<Record<string, unknown>> {
  const client = connectMessenger({ ...options, callTimeoutMs: timeoutMs, sendStream: false });
  try {
    const status = await client.getStatus();
    return {
      brokerConnected: status.brokerConnected,
      brokerUrl: status.brokerUrl,
      ...(status.brokerError === undefined ? {} : { brokerError: status.brokerError }),
    };
  } catch {
    return {}; // starting or stopping: the health status says enough
  } finally {
    client.close();
  }
}

export async function ctlHealth(values: Record<string, string | boolean | undefined>): Promise<number> {
  const timeoutText = stringOption(values, 'timeout');
  const timeoutS = timeoutText === undefined ? DEFAULT_HEALTH_TIMEOUT_S : parseNonNegativeInt(timeoutText, '--timeout');
  const timeoutMs = Math.max(1, timeoutS) * 1000;
  let options: ConnectOptions;
  try {
    options = await connectOptions(values);
  } catch (e) {
    if (!(e instanceof CliFailure)) throw e; // a usage mistake stays one (exit 2)
    printJson({ healthy: false, error: e.message });
    return 1;
  }
  let status: string;
  try {
    status = await checkHealth(options, timeoutMs);
  } catch (e) {
    printJson({ healthy: false, error: e instanceof ApiCallError || e instanceof Error ? e.message : String(e) });
    return 1;
  }
  const healthy = status === 'SERVING';
  printJson({ healthy, status, ...(await brokerFields(options, timeoutMs)) });
  return healthy ? 0 : 1;
}
