/**
 * What a failed relay connection attempt means, in one line for the log and `ctl status`: a
 * certificate that does not verify, a TLS handshake that fails, a refused login (CONNACK code), or
 * a relay that cannot be reached. Certificates and refused logins are configuration problems the
 * daemon cannot fix by retrying (it still retries, with backoff): they are logged as errors.
 */

/** OpenSSL / Node verification codes of a certificate the client refused (plus any CERT_* code). */
const CERTIFICATE_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'INVALID_PURPOSE',
  'INVALID_CA',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** CONNACK return codes of MQTT 3.1.1 and what to check. */
const CONNACK: Record<number, string> = {
  1: 'unacceptable protocol version',
  2: 'client id rejected',
  3: 'server unavailable; retrying',
  4: 'bad user name or password; check --broker-auth',
  5: 'not authorized; check --relay-name (the relay\'s name) and --broker-auth',
};

export interface ConnectProblem {
  /** The error's code (string or CONNACK number), if any. */
  readonly code: string | number | undefined;
  /** e.g. "certificate rejected (CERT_HAS_EXPIRED)". */
  readonly text: string;
  /** A configuration problem (logged as an error), not a passing outage. */
  readonly severe: boolean;
}

export function isCertificateError(code: unknown): boolean {
  return typeof code === 'string' && (CERTIFICATE_CODES.has(code) || code.startsWith('CERT_'));
}

export function describeConnectError(err: Error): ConnectProblem {
  const code = (err as { code?: unknown }).code;
  if (isCertificateError(code)) return { code: code as string, text: `certificate rejected (${code as string})`, severe: true };
  if (typeof code === 'string' && (code.startsWith('ERR_SSL_') || code === 'EPROTO')) {
    return { code, text: `TLS handshake failed (${code})`, severe: true };
  }
  if (typeof code === 'number') {
    const what = CONNACK[code] ?? 'refused';
    return { code, text: `login refused (CONNACK ${code}: ${what})`, severe: code !== 3 };
  }
  if (typeof code === 'string') return { code, text: `unreachable (${code})`, severe: false };
  return { code: undefined, text: err.message === 'connack timeout' ? 'no CONNACK in time (connect timeout)' : `connection failed (${err.message})`, severe: false };
}
