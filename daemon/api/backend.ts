/**
 * What the gRPC API serves: the engine's DaemonApi and its vocabulary (daemon/engine/types.ts). The
 * API layer adapts to the engine's types; the engine knows nothing of the API.
 */
import type { DaemonApi } from '../engine/types.ts';

export type { Contact, DaemonEvent, DeadLetter, DeadLetterInput, DeliveryState, GroupInfo, Identity, InboundMessage, SendRequest, Status, TrustState } from '../engine/types.ts';
export type MessengerBackend = DaemonApi;
