/** aedes-persistence-redis 12 ships no typings: a factory taking ioredis options (or `conn`) plus its own. */
declare module 'aedes-persistence-redis' {
  interface RedisPersistenceOptions {
    /** An ioredis connection to use (and disconnect on destroy). */
    conn?: unknown;
    /** Queued messages delivered per CONNECT (default 1000, i.e. 1001 with LRANGE's inclusive end). */
    maxSessionDelivery?: number;
    /** Seconds a queued packet lives in Redis; 0 = forever. */
    packetTTL?: (packet: { topic: string }) => number;
  }
  const createRedisPersistence: (opts: RedisPersistenceOptions) => unknown;
  export default createRedisPersistence;
}
