/**
 * `ratchetd daemon` options for logging in to the broker (issue 5):
 *   --broker-auth proof     (default) a signed proof of the identity key — `ratchetd broker`
 *   --broker-auth none      anonymous — a plain broker on loopback (ratchetd-loopback.conf)
 *   --broker-auth password  username + password from a file — a plain broker with an ACL
 *                           (broker/mosquitto/ratchetd.conf); the username defaults to the user id,
 *                           which the shipped pattern ACL requires.
 * The password is read as bytes and never becomes a string.
 */
import { readFile } from 'node:fs/promises';
import type { RelayCredentials } from '../relay/mqtt-relay.ts';
import { CliFailure, stringOption, UsageError, type Parsed } from './args.ts';

export const BROKER_AUTH_OPTIONS = {
  'broker-auth': { type: 'string' },
  'broker-username': { type: 'string' },
  'broker-password-file': { type: 'string' },
} as const;

export const BROKER_AUTH_HELP = `  --broker-auth MODE       proof (default: ratchetd broker), none (anonymous plain broker) or
                           password (plain broker with username/password, e.g. Mosquitto)
  --broker-username U      with password: the MQTT username (default: this daemon's user id)
  --broker-password-file F with password: file holding the MQTT password (one line)
`;

async function readPasswordFile(path: string): Promise<Uint8Array> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new CliFailure(`cannot read the broker password file ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let end = bytes.length;
  while (end > 0 && (bytes[end - 1] === 0x0a || bytes[end - 1] === 0x0d)) end--;
  const password = new Uint8Array(bytes.subarray(0, end));
  bytes.fill(0);
  if (password.length === 0) throw new CliFailure(`the broker password file ${path} is empty`);
  return password;
}

/** The DaemonConfig.relayAuth for the flags: 'proof', {} (anonymous) or { username?, password }. */
export async function parseBrokerAuth(values: Parsed['values']): Promise<'proof' | RelayCredentials> {
  const mode = stringOption(values, 'broker-auth') ?? 'proof';
  const username = stringOption(values, 'broker-username');
  const passwordFile = stringOption(values, 'broker-password-file');
  if (mode !== 'password' && (username !== undefined || passwordFile !== undefined)) {
    throw new UsageError('--broker-username and --broker-password-file need --broker-auth password');
  }
  switch (mode) {
    case 'proof':
      return 'proof';
    case 'none':
      return {};
    case 'password': {
      if (passwordFile === undefined) throw new UsageError('--broker-auth password needs --broker-password-file F');
      const password = await readPasswordFile(passwordFile);
      return username === undefined ? { password } : { username, password };
    }
    default:
      throw new UsageError(`--broker-auth must be proof, none or password, not "${mode}"`);
  }
}
