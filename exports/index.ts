/**
 * `import … from 'ratchetd'`: the typed client of a daemon's local gRPC API.
 *
 *   const client = connectMessenger({ socketPath: '/path/to/api.sock' });
 *   const { userId } = await client.getIdentity();
 *   await client.send({ to: peerUserId, body: 'hello' });
 *   for await (const event of client.receive()) if (event.kind === 'message') await client.ack([event.message.messageId]);
 *   client.close();
 */
export { connectMessenger, MessengerClient, ApiCallError, TEXT_CONTENT_TYPE, SEND_STREAM_IDLE_MS } from '../daemon/api/client.ts';
export type { ApiEvent, ConnectOptions, ReceiveOptions, SendInput } from '../daemon/api/client.ts';
export type { Contact, DaemonEvent, DeliveryState, Identity, InboundMessage, Status, TrustState } from '../daemon/api/backend.ts';
