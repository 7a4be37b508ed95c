/**
 * The daemon's store: typed record kinds, atomic batches, ordered iteration. Values are opaque bytes
 * here; every implementation encrypts them at rest (see encrypted-store.ts). One state transition =
 * one `batch` call, so a crash leaves either the old state or the new one.
 */
import { CodedError } from '../../core/errors.ts';
import type { RecordKind } from './kinds.ts';

export type BatchOp =
  | { readonly type: 'put'; readonly kind: RecordKind; readonly key: string; readonly value: Uint8Array }
  | { readonly type: 'del'; readonly kind: RecordKind; readonly key: string };

export interface IterateOptions {
  /** Only keys starting with this (ordered kinds only). */
  readonly prefix?: string;
  /** Only keys strictly greater than this (ordered kinds only). */
  readonly after?: string;
  readonly limit?: number;
  readonly reverse?: boolean;
}

/** One record of an iteration: a corrupt record is reported in place, so one bad record blocks only itself. */
export type IteratedRecord =
  | { readonly ok: true; readonly key: string; readonly value: Uint8Array }
  | { readonly ok: false; readonly error: CorruptRecordError };

export interface Store {
  /** The value, or undefined if absent. Throws CorruptRecordError if the record fails authentication. */
  get(kind: RecordKind, key: string): Promise<Uint8Array | undefined>;
  put(kind: RecordKind, key: string, value: Uint8Array): Promise<void>;
  del(kind: RecordKind, key: string): Promise<void>;
  /** Applies every op or none. */
  batch(ops: readonly BatchOp[]): Promise<void>;
  /** Records of one kind; ordered by key for ordered kinds, in an unspecified order for blinded kinds. */
  iterate(kind: RecordKind, options?: IterateOptions): AsyncIterable<IteratedRecord>;
  /** Schema version of the open store. */
  readonly schemaVersion: number;
  close(): Promise<void>;
}

/** The store layer's error codes (every store error is one of the classes below). */
export type StoreErrorCode = 'CorruptRecord' | 'StoreError' | 'ConfigError';

/** A stored record that does not decrypt or decode: fails closed for that record only. */
export class CorruptRecordError extends CodedError<StoreErrorCode> {
  readonly kind: RecordKind;
  constructor(kind: RecordKind, message: string, options?: { cause?: unknown }) {
    super('CorruptRecord', `corrupt ${kind} record: ${message}`, options);
    this.kind = kind;
  }
}

/** Failures of the storage engine itself (I/O, closed database). */
export class StoreError extends CodedError<StoreErrorCode> {
  constructor(message: string, options?: { cause?: unknown }) {
    super('StoreError', message, options);
  }
}

/** Configuration problems: wrong key or passphrase, unreadable key file, newer schema. */
export class StoreConfigError extends CodedError<StoreErrorCode> {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ConfigError', message, options);
  }
}
