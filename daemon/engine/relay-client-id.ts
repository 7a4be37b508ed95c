/**
 * The MQTT client id a daemon uses on a plain broker with a username and password
 * (`--broker-auth password`): its user id, a dash and 20 hex digits only this daemon can compute
 * (HKDF-SHA256 of its identity key). nats-server 2.9 does not bind the client id to the username:
 * any user may log in with another's client id, which ends that user's connection and, with a clean
 * session, deletes its session and queue. A client id derived from a secret closes that, since
 * nobody else can name the session. Brokers that bind the client id themselves (Mosquitto's
 * use_username_as_clientid) replace it with the username. It does not change across restarts or
 * password changes, so the session (and what is queued in it) survives them.
 *
 * With the login proof (`ratchetd broker`, which binds the session to the proven user id) and
 * anonymously, the client id stays the user id.
 */
import { utf8 } from '../../core/bytes.ts';
import type { Crypto } from '../../core/crypto.ts';
import type { LocalIdentity } from '../../core/identity.ts';

const CLIENT_ID_SALT = utf8.encode('ratchetd-v1/plain-broker-client-id');
const SUFFIX_BYTES = 10;

export function plainBrokerClientId(crypto: Crypto, identity: LocalIdentity): string {
  const suffix = crypto.hkdf(CLIENT_ID_SALT, identity.keyPair.privateKey, utf8.encode(identity.userId), SUFFIX_BYTES);
  return `${identity.userId}-${Buffer.from(suffix).toString('hex')}`;
}
