/**
 * connect(): reach a daemon by its Unix socket (or TCP address + bearer token), learn who it is,
 * and return a Bot ready for handlers. Fails with BotConnectError when the daemon cannot be
 * reached within connectTimeoutMs.
 */
import { resolve } from 'node:path';
import { connectMessenger, type ConnectOptions as ClientOptions, type MessengerClient } from '../../daemon/api/client.ts';
import { Bot, type BotOptions } from './bot.ts';
import { errorText } from './logger.ts';

export type DaemonTarget = { socket: string } | { tcp: string; token: string };

export type ConnectOptions = DaemonTarget &
  BotOptions & {
    /** How long to wait for the daemon (default 10 s). */
    connectTimeoutMs?: number;
  };

export class BotConnectError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BotConnectError';
  }
}

export function describeTarget(target: DaemonTarget): string {
  return 'socket' in target ? `unix:${resolve(target.socket)}` : target.tcp;
}

function clientOptions(target: DaemonTarget): ClientOptions {
  return 'socket' in target ? { socketPath: target.socket } : { tcp: target.tcp, token: target.token };
}

export async function connect(options: ConnectOptions): Promise<Bot> {
  const target: DaemonTarget = 'socket' in options ? { socket: options.socket } : { tcp: options.tcp, token: options.token };
  const newClient = (): MessengerClient => connectMessenger(clientOptions(target));
  const client = newClient();
  try {
    await client.waitForReady(options.connectTimeoutMs ?? 10_000);
    const identity = await client.getIdentity();
    return new Bot(client, newClient, identity, options);
  } catch (e) {
    client.close();
    throw new BotConnectError(`cannot reach the daemon at ${describeTarget(target)}: ${errorText(e)}`, { cause: e });
  }
}
