/** The file chunk envelope's kind byte is its own: no other envelope kind is taken for a chunk. */
import { describe, expect, it } from 'vitest';
import { ENVELOPE_KIND_GROUP, ENVELOPE_KIND_HANDSHAKE, ENVELOPE_KIND_PQ_HANDSHAKE, ENVELOPE_KIND_SESSION } from '../envelope.ts';
import { PROTOCOL_VERSION } from '../limits.ts';
import { ENVELOPE_KIND_FILE_CHUNK, FILE_CHUNK_ENVELOPE_BYTES, isChunkEnvelope } from './chunk-envelope.ts';

describe('file chunk envelope kind', () => {
  it('differs from every other envelope kind, and only it is routed to the file receiver', () => {
    const others = [ENVELOPE_KIND_SESSION, ENVELOPE_KIND_HANDSHAKE, ENVELOPE_KIND_GROUP, ENVELOPE_KIND_PQ_HANDSHAKE];
    expect(others).not.toContain(ENVELOPE_KIND_FILE_CHUNK);
    for (const kind of others) {
      const env = new Uint8Array(FILE_CHUNK_ENVELOPE_BYTES);
      env[0] = PROTOCOL_VERSION;
      env[1] = kind;
      expect(isChunkEnvelope(env)).toBe(false);
    }
    const chunk = new Uint8Array(FILE_CHUNK_ENVELOPE_BYTES);
    chunk[0] = PROTOCOL_VERSION;
    chunk[1] = ENVELOPE_KIND_FILE_CHUNK;
    expect(isChunkEnvelope(chunk)).toBe(true);
  });
});
