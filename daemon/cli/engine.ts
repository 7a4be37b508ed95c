/**
 * Loads the daemon engine (daemon/engine/index.ts, `createDaemon`). Imported dynamically so that
 * the broker and ctl subcommands never load it, typed by the documented shape.
 */
import type { Logger } from 'pino';
import type { MessengerBackend } from '../api/backend.ts';
import { CliFailure } from './args.ts';

export interface DaemonEngineConfig {
  dataDir: string;
  brokerUrl: string;
  /** At-rest key from a passphrase (bytes of the passphrase file, trailing newline removed). */
  passphrase?: Uint8Array;
  /** At-rest key file path (created with mode 0600 when missing). */
  keyFile?: string;
  logger: Logger;
}

export interface DaemonEngine {
  start(): Promise<{ userId: string }>;
  close(): Promise<void>;
  backend: MessengerBackend;
}

type CreateDaemon = (config: DaemonEngineConfig) => DaemonEngine;

const ENGINE_MODULE = '../engine/index.ts';

export async function loadCreateDaemon(): Promise<CreateDaemon> {
  let mod: { createDaemon?: unknown };
  try {
    mod = (await import(ENGINE_MODULE)) as { createDaemon?: unknown };
  } catch (e) {
    throw new CliFailure('the daemon engine (daemon/engine) is not available in this build', { cause: e });
  }
  if (typeof mod.createDaemon !== 'function') throw new CliFailure('daemon/engine does not export createDaemon');
  return mod.createDaemon as CreateDaemon;
}
