/**
 * The broker's TLS certificate and key: read from their files at start and again on every reload
 * (SIGHUP in `ratchetd broker`), checked as a pair before anything uses them, so a bad file or a
 * key that does not match the certificate never replaces a working pair.
 */
import { readFile } from 'node:fs/promises';
import tls from 'node:tls';
import { BrokerError } from './errors.ts';

/**
 * Options of every TLS listener, given again on each reload (setSecureContext forgets what it is
 * not given). TLS 1.3 only: the channel binding (RFC 9266 tls-exporter) identifies one connection
 * only on TLS 1.3 (on 1.2 only with extended master secret, which Node cannot check).
 */
export const TLS_LISTENER_OPTIONS = { minVersion: 'TLSv1.3' } as const satisfies tls.SecureContextOptions;

export interface TlsFiles {
  /** PEM certificate chain (leaf first). */
  readonly certFile: string;
  /** PEM private key of the leaf. */
  readonly keyFile: string;
}

export interface TlsCredentials {
  readonly cert: Buffer;
  readonly key: Buffer;
}

async function readPem(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (cause) {
    throw new BrokerError('ConfigError', `cannot read the TLS ${what} ${path} (${(cause as NodeJS.ErrnoException).code ?? 'error'})`, { cause });
  }
}

/** Reads both files and checks that they make a usable pair; throws a ConfigError naming the problem. */
export async function loadTlsCredentials(files: TlsFiles): Promise<TlsCredentials> {
  const [cert, key] = await Promise.all([readPem(files.certFile, 'certificate', ), readPem(files.keyFile, 'key')]);
  try {
    tls.createSecureContext({ ...TLS_LISTENER_OPTIONS, cert, key });
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code ?? 'error';
    const why = code === 'ERR_OSSL_X509_KEY_VALUES_MISMATCH' ? 'the key does not match the certificate' : `not a usable certificate and key (${code})`;
    throw new BrokerError('ConfigError', `TLS ${files.certFile} / ${files.keyFile}: ${why}`, { cause });
  }
  return { cert, key };
}

/** The secure context options of a listener serving these credentials. */
export function secureContextOptions(c: TlsCredentials): tls.SecureContextOptions {
  return { ...TLS_LISTENER_OPTIONS, cert: c.cert, key: c.key };
}
