/**
 * Typings for the untyped CommonJS packages the LevelDB persistence uses (only what it calls):
 * msgpack-lite (the record encoding aedes-persistence-level wrote), qlobber (Aedes' topic matcher),
 * aedes-packet's constructor.
 */
declare module 'msgpack-lite' {
  export function encode(value: unknown): Buffer;
  export function decode(buffer: Buffer | Uint8Array): unknown;
}

declare module 'qlobber' {
  export interface QlobberOptions {
    wildcard_one?: string;
    wildcard_some?: string;
    separator?: string;
    match_empty_levels?: boolean;
  }
  /** Matches topics against the patterns added (a set of patterns, no values). */
  export class QlobberTrue {
    constructor(options?: QlobberOptions);
    add(pattern: string): this;
    test(topic: string): boolean;
  }
}

declare module 'qlobber/aedes/qlobber-sub.js' {
  import type { QlobberOptions } from 'qlobber';
  export interface TrieSubscription {
    clientId: string;
    topic: string;
    qos: number;
    rh?: number;
    rap?: boolean;
    nl?: boolean;
  }
  /** Aedes' subscription trie: one entry per (topic pattern, client). */
  export default class QlobberSub {
    constructor(options?: QlobberOptions);
    subscriptionsCount: number;
    add(topic: string, sub: TrieSubscription): this;
    remove(topic: string, sub: { clientId: string; topic: string }): this;
    match(topic: string): TrieSubscription[];
  }
}

declare module 'aedes-packet' {
  /** Copies a publish into the shape Aedes stores (brokerId/brokerCounter kept, messageId cleared for QoS > 0). */
  export default class Packet {
    constructor(original: object, broker?: { id: string; counter: number });
    [field: string]: unknown;
  }
}
