/** The relay client's typed errors (the engine and the API layer decide what they mean to a caller). */
import { CodedError } from '../../core/errors.ts';

export type RelayErrorCode =
  /** Not connected to the broker, the connection was lost, or the broker refused the request. */
  'BrokerUnavailable';

export class RelayError extends CodedError<RelayErrorCode> {}
