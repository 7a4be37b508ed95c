/**
 * The TLS channel binding of the connection an Aedes client arrived on (RFC 9266 tls-exporter,
 * the same call as the daemon's, daemon/relay/channel-bound-stream.ts), checked into the CONNECT
 * proof by authenticate.ts:
 *   - mqtts (tls.Server → aedes.handle(tlsSocket)): `client.conn` is the TLSSocket;
 *   - wss (https.Server + ws → aedes.handle(wsStream, req)): `client.req.socket` is;
 *   - mqtt, ws: no TLS, the empty binding.
 * The handshake is complete by the time a CONNECT is parsed (no application data flows before it).
 */
import tls from 'node:tls';
import { CHANNEL_BINDING_BYTES, NO_CHANNEL_BINDING, TLS_EXPORTER_LABEL } from '../core/relay-auth.ts';

/** What Aedes' Client carries that is read here (`req` is set for WebSocket connections). */
export interface ClientTransport {
  readonly conn?: unknown;
  readonly req?: { readonly socket?: unknown } | undefined;
}

export function tlsSocketOf(client: ClientTransport): tls.TLSSocket | null {
  if (client.conn instanceof tls.TLSSocket) return client.conn;
  const socket = client.req?.socket;
  return socket instanceof tls.TLSSocket ? socket : null;
}

/**
 * Called without a context argument (OpenSSL's use_context = 0), as RFC 9266 and the daemon do:
 * on TLS 1.2 "no context" and "empty context" differ. @types/node declares `context` required.
 */
const exportWithoutContext = tls.TLSSocket.prototype.exportKeyingMaterial as (this: tls.TLSSocket, length: number, label: string) => Buffer;

/**
 * The binding a proof on this connection must carry: the exporter on TLS, empty on plain TCP.
 * Throws (ERR_TLS_INVALID_STATE) if the TLS socket is already gone: the login is then refused.
 */
export function channelBindingOf(client: ClientTransport): Uint8Array {
  const socket = tlsSocketOf(client);
  if (socket === null) return NO_CHANNEL_BINDING;
  return new Uint8Array(exportWithoutContext.call(socket, CHANNEL_BINDING_BYTES, TLS_EXPORTER_LABEL));
}
