/** The broker's own typed errors (the protocol core's come from core/errors.ts). */
import { CodedError } from '../core/errors.ts';

export type BrokerErrorCode = 'ConfigError' | 'StoreError';

/** A broker failure: a bad configuration ('ConfigError') or an unusable store or Redis ('StoreError'). */
export class BrokerError extends CodedError<BrokerErrorCode> {}
