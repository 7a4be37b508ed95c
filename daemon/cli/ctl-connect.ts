/** How `ratchetd ctl` reaches the daemon: --socket PATH, or --tcp HOST:PORT with a bearer token. */
import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { ConnectOptions } from '../api/client.ts';
import { CliFailure, parseHostPort, stringOption, UsageError } from './args.ts';

export async function connectOptions(values: Record<string, string | boolean | undefined>): Promise<ConnectOptions> {
  const tcp = stringOption(values, 'tcp');
  const socket = stringOption(values, 'socket');
  if (tcp !== undefined && socket !== undefined) throw new UsageError('give --socket or --tcp, not both');
  if (tcp !== undefined) {
    const { host, port } = parseHostPort(tcp, '--tcp');
    const tokenFlag = stringOption(values, 'token');
    const tokenFile = stringOption(values, 'token-file');
    if (tokenFlag !== undefined && tokenFile !== undefined) throw new UsageError('give --token or --token-file, not both');
    let token = tokenFlag;
    if (tokenFile !== undefined) {
      token = (await readFile(tokenFile, 'utf8').catch(() => {
        throw new CliFailure(`cannot read the token file ${tokenFile}`);
      })).trim();
    }
    if (token === undefined || token === '') throw new UsageError('--tcp needs --token or --token-file');
    return { tcp: `${host.includes(':') ? `[${host}]` : host}:${port}`, token };
  }
  if (socket === undefined) throw new UsageError('give --socket PATH (or --tcp HOST:PORT with a token)');
  const path = resolve(socket);
  const info = await stat(path).catch(() => undefined);
  if (info === undefined) throw new CliFailure(`no daemon socket at ${path} (is the daemon running?)`);
  if (!info.isSocket()) throw new CliFailure(`${path} is not a socket`);
  return { socketPath: path };
}
