/** File transfers: descriptor, chunk format, sealing and opening (see format.ts for the scheme). */
export * from './errors.ts';
export * from './format.ts';
export * from './descriptor.ts';
export * from './progress.ts';
export * from './chunk-envelope.ts';
export * from './seal.ts';
export * from './open.ts';
export * from './member-chunk.ts';
