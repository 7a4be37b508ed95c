/**
 * The engine's own typed errors: what a caller of the daemon did wrong or must wait for. The API
 * layer maps each code to a status (daemon/api/status-codes.ts); the engine knows nothing of gRPC.
 */
import { CodedError } from '../../core/errors.ts';

export type EngineErrorCode =
  /** The request cannot be carried out as asked (a message to oneself, a body over the limit). */
  | 'InvalidArgument'
  /** No contact and no published bundle for that user id. */
  | 'UnknownPeer'
  /** No group of that id (never a member, or its id is mistyped). */
  | 'UnknownGroup'
  /** This daemon is in MAX_GROUPS_PER_DAEMON groups already. */
  | 'TooManyGroups'
  /** The safety number given to verifyContact does not match. */
  | 'SafetyNumberMismatch'
  /** An idempotency key was reused for a different message. */
  | 'IdempotencyConflict'
  /** A session could not be set up in time (the peer's bundle changed while it was fetched); retry. */
  | 'SessionSetupRaced'
  /** The daemon is starting, stopping, or stopped after a store failure. */
  | 'NotReady'
  /** A subscriber's replay was overtaken by more events than it may buffer; it may resubscribe. */
  | 'SlowConsumer';

export class EngineError extends CodedError<EngineErrorCode> {}
