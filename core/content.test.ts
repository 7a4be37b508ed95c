import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createSodiumCrypto } from '../crypto/sodium.ts';
import type { Crypto } from './crypto.ts';
import { concat, utf8 } from './bytes.ts';
import {
  MAX_MESSAGE_BODY_BYTES,
  ZERO_HASH,
  decodeContent,
  encodeContent,
  sealContent,
  transcriptHash,
  transcriptHashOfEncoding,
  type Content,
} from './content.ts';
import { codeOf, fuzzDecoder, FUZZ } from './handshake-vectors/test-helpers.ts';

let crypto: Crypto;
beforeAll(async () => {
  crypto = await createSodiumCrypto();
});

describe('content', () => {
  it('round-trips every kind byte for byte', () => {
    const prev = crypto.randomBytes(32);
    const samples: Content[] = [
      sealContent(crypto, { kind: 'message', body: utf8.encode('hello'), contentType: 'text/plain' }, 7, prev, 123),
      sealContent(crypto, { kind: 'receipt', upToSeq: 42 }, 99, prev, 124),
      sealContent(crypto, { kind: 'reset' }, 99, prev, 125),
    ];
    for (const c of samples) {
      const bytes = encodeContent(c);
      expect(decodeContent(bytes)).toEqual(c);
      expect(encodeContent(decodeContent(bytes))).toEqual(bytes);
    }
    // receipts and resets are outside the sequence whatever the caller passed
    expect(samples[1]!.seq).toBe(0);
    expect(samples[2]!.prevHash).toEqual(ZERO_HASH);
    expect(samples[0]!.messageId.length).toBe(16);
  });

  it('keeps a caller-chosen message id (retransmission and idempotency)', () => {
    const id = crypto.randomBytes(16);
    const c = sealContent(crypto, { kind: 'message', body: new Uint8Array(0), contentType: '', messageId: id }, 1, ZERO_HASH, 1);
    expect(c.messageId).toEqual(id);
    expect(codeOf(() => sealContent(crypto, { kind: 'message', body: new Uint8Array(0), contentType: '', messageId: new Uint8Array(3) }, 1, ZERO_HASH, 1))).toBe('DecodeError');
  });

  it('refuses bodies above the limit and over-long content types', () => {
    const ok = sealContent(crypto, { kind: 'message', body: new Uint8Array(MAX_MESSAGE_BODY_BYTES), contentType: 'x'.repeat(255) }, 1, ZERO_HASH, 1);
    expect(decodeContent(encodeContent(ok)).kind).toBe('message');
    expect(codeOf(() => sealContent(crypto, { kind: 'message', body: new Uint8Array(MAX_MESSAGE_BODY_BYTES + 1), contentType: '' }, 1, ZERO_HASH, 1))).toBe('MessageTooLarge');
    expect(codeOf(() => sealContent(crypto, { kind: 'message', body: new Uint8Array(1), contentType: 'x'.repeat(256) }, 1, ZERO_HASH, 1))).toBe('DecodeError');
  });

  it('refuses non-canonical encodings: a receipt inside the sequence, a message with seq 0, a BOM', () => {
    const r = encodeContent(sealContent(crypto, { kind: 'receipt', upToSeq: 1 }, 0, ZERO_HASH, 1));
    const inSeq = r.slice();
    inSeq[2 + 16 + 7] = 1;
    expect(codeOf(() => decodeContent(inSeq))).toBe('DecodeError');
    const m = sealContent(crypto, { kind: 'message', body: new Uint8Array(1), contentType: 'a' }, 1, ZERO_HASH, 1);
    expect(codeOf(() => decodeContent(encodeContent({ ...m, seq: 0 })))).toBe('DecodeError');
    const bytes = encodeContent(m);
    const head = bytes.subarray(0, 66);
    const withBom = concat(head, Uint8Array.of(0, 4, 0xef, 0xbb, 0xbf, 0x61), bytes.subarray(66 + 3));
    expect(codeOf(() => decodeContent(withBom))).toBe('DecodeError');
  });

  it('the transcript hash covers every field', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.string({ maxLength: 20 }), fc.integer({ min: 1, max: 1e9 }), (body, type, seq) => {
        const c = sealContent(crypto, { kind: 'message', body, contentType: type }, seq, ZERO_HASH, 5) as Content & { kind: 'message' };
        const h = transcriptHash(crypto, c);
        return (
          !crypto.equal(h, transcriptHash(crypto, { ...c, seq: seq + 1 })) &&
          !crypto.equal(h, transcriptHash(crypto, { ...c, body: concat(body, Uint8Array.of(0)) })) &&
          !crypto.equal(h, transcriptHash(crypto, { ...c, messageId: crypto.randomBytes(16) })) &&
          crypto.equal(h, transcriptHash(crypto, decodeContent(encodeContent(c))))
        );
      }),
      { seed: FUZZ.seed, numRuns: 200 },
    );
  });

  it('every encoding the decoder accepts is canonical, so the hash of a received plaintext is the hash of its content (seed 42)', () => {
    const samples = [
      encodeContent(sealContent(crypto, { kind: 'message', body: utf8.encode('hi there'), contentType: 'text/plain' }, 3, crypto.randomBytes(32), 9)),
      encodeContent(sealContent(crypto, { kind: 'receipt', upToSeq: 3 }, 0, ZERO_HASH, 9)),
      encodeContent(sealContent(crypto, { kind: 'reset' }, 0, ZERO_HASH, 9)),
    ];
    let accepted = 0;
    fc.assert(
      fc.property(
        fc.constantFrom(...samples),
        fc.array(fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 3 }),
        (sample, edits) => {
          const bytes = sample.slice();
          for (const e of edits) bytes[e.at % bytes.length] = e.value;
          let decoded: Content;
          try {
            decoded = decodeContent(bytes);
          } catch {
            return;
          }
          accepted++;
          expect(Buffer.from(encodeContent(decoded)).equals(bytes)).toBe(true);
          expect(crypto.equal(transcriptHashOfEncoding(crypto, bytes), transcriptHash(crypto, decoded))).toBe(true);
        },
      ),
      { seed: FUZZ.seed, numRuns: 2000 },
    );
    expect(accepted).toBeGreaterThan(100); // the property was exercised, not vacuous
  });

  it('the decoder throws only DecodeError on arbitrary bytes (seed 42)', () => {
    const m = sealContent(crypto, { kind: 'message', body: utf8.encode('hi'), contentType: 'text/plain' }, 3, ZERO_HASH, 9);
    fuzzDecoder(decodeContent, [encodeContent(m), encodeContent(sealContent(crypto, { kind: 'receipt', upToSeq: 3 }, 0, ZERO_HASH, 9))]);
  });
});
