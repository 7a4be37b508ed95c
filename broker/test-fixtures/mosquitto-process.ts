/**
 * A throw-away Mosquitto for tests and the benchmark, configured from the SHIPPED files
 * (broker/mosquitto/ratchetd.conf or ratchetd-loopback.conf, and ratchetd.acl as it is): only the
 * machine-specific lines are rewritten — listener (a free loopback port), password_file and
 * persistence_location (a temp dir), user (the current user, so files in the temp dir stay readable
 * when the tests run as root) — plus any `settings` a test overrides.
 */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startExternal } from './external-process.ts';
import type { ExternalProcess } from './external-process.ts';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
export const SHIPPED_DIR = path.join(here, '..', 'mosquitto');
export const MOSQUITTO = process.env['RATCHETD_MOSQUITTO'] ?? (process.platform === 'linux' ? '/usr/sbin/mosquitto' : 'mosquitto');
export const MOSQUITTO_PASSWD = process.env['RATCHETD_MOSQUITTO_PASSWD'] ?? 'mosquitto_passwd';

export interface MosquittoUser {
  readonly username: string;
  readonly password: string;
}

export interface MosquittoOptions {
  /** 'loopback': ratchetd-loopback.conf (anonymous); 'password': ratchetd.conf + ratchetd.acl. */
  readonly config: 'loopback' | 'password';
  /** Working directory (config, password file, persistence). */
  readonly dir: string;
  readonly users?: readonly MosquittoUser[];
  /** Settings replaced (or added) after the shipped ones, e.g. { max_queued_messages: '10' }. */
  readonly settings?: Readonly<Record<string, string>>;
}

export interface RunningMosquitto extends ExternalProcess {
  /** mqtt://127.0.0.1:PORT */
  readonly url: string;
  /** Adds (or changes) a user in the password file and makes Mosquitto reload it (SIGHUP). */
  addUser(user: MosquittoUser): Promise<void>;
}

/** The shipped config with the machine-specific settings replaced (pure, for tests of the rewrite too). */
export function rewriteConfig(shipped: string, replace: Readonly<Record<string, string>>): string {
  const seen = new Set<string>();
  const lines = shipped.split('\n').map((line) => {
    const key = /^([a-z_]+)\s/.exec(line)?.[1];
    if (key === undefined || !(key in replace)) return line;
    seen.add(key);
    return `${key} ${replace[key] as string}`;
  });
  for (const [key, value] of Object.entries(replace)) if (!seen.has(key)) lines.push(`${key} ${value}`);
  return lines.join('\n') + '\n';
}

async function writePasswords(file: string, users: readonly MosquittoUser[], create: boolean): Promise<void> {
  if (create) await writeFile(file, '', { mode: 0o600 });
  // -b takes the password on the command line: fine for throw-away test users, not for real ones
  // (README.md: run mosquitto_passwd without -b so it asks).
  for (const u of users) await run(MOSQUITTO_PASSWD, ['-b', file, u.username, u.password]);
}

/** How many times the log shows the shipped ACL being loaded (a warning per load, see ratchetd.acl). */
function aclLoads(log: string): number {
  return log.split("ACL pattern 'ratchetd/v1/bundle/+'").length - 1;
}

export async function startMosquitto(o: MosquittoOptions): Promise<RunningMosquitto> {
  const shippedName = o.config === 'password' ? 'ratchetd.conf' : 'ratchetd-loopback.conf';
  const shipped = await readFile(path.join(SHIPPED_DIR, shippedName), 'utf8');
  const passwordFile = path.join(o.dir, 'ratchetd.passwd');
  if (o.config === 'password') await writePasswords(passwordFile, o.users ?? [], true);
  const confFile = path.join(o.dir, 'mosquitto.conf');
  const prepare = async (port: number): Promise<void> => {
    const replace: Record<string, string> = {
      listener: `${port} 127.0.0.1`,
      persistence_location: `${o.dir}${path.sep}`,
      user: os.userInfo().username,
      ...(o.config === 'password' ? { password_file: passwordFile, acl_file: path.join(SHIPPED_DIR, 'ratchetd.acl') } : {}),
      ...o.settings,
    };
    await writeFile(confFile, rewriteConfig(shipped, replace));
  };
  const proc = await startExternal({ command: MOSQUITTO, args: () => ['-c', confFile], prepare });
  return Object.assign(proc, {
    url: `mqtt://127.0.0.1:${proc.port}`,
    async addUser(user: MosquittoUser) {
      if (o.config !== 'password') throw new Error('addUser needs the password config');
      await writePasswords(passwordFile, [user], false);
      // SIGHUP reloads password_file and acl_file. Signals sent in quick succession coalesce, so
      // wait until this reload shows in the log: Mosquitto warns about the ACL's %u-less patterns
      // (ratchetd.acl) each time it loads the file.
      const before = aclLoads(proc.output());
      proc.child.kill('SIGHUP');
      const deadline = Date.now() + 10_000;
      while (aclLoads(proc.output()) <= before) {
        if (Date.now() > deadline) throw new Error(`mosquitto did not reload its password file: ${proc.output()}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
  });
}
