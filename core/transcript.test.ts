import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createSodiumCrypto } from '../crypto/sodium.ts';
import type { Crypto } from './crypto.ts';
import { Writer, utf8 } from './bytes.ts';
import type { Content, MessageContent } from './content.ts';
import {
  TRANSCRIPT_GAP_MAX_AGE_MS,
  TRANSCRIPT_MAX_PENDING,
  TRANSCRIPT_MAX_WAIT_MS,
  acceptInOrder,
  decodeTranscript,
  emptyTranscript,
  nextOutgoing,
  receiptSeq,
  releaseStalled,
  writeTranscript,
  type TranscriptState,
} from './transcript.ts';
import { codeOf, fuzzDecoder, FUZZ } from './handshake-vectors/test-helpers.ts';

let crypto: Crypto;
beforeAll(async () => {
  crypto = await createSodiumCrypto();
});
const T0 = 1_700_000_000_000;

/** n consecutive messages from one sender's transcript. */
function sendMany(n: number, from: TranscriptState = emptyTranscript()): { sent: MessageContent[]; next: TranscriptState } {
  let t = from;
  const sent: MessageContent[] = [];
  for (let i = 0; i < n; i++) {
    const r = nextOutgoing(crypto, t, { kind: 'message', body: utf8.encode(`m${t.sendSeq + 1}`), contentType: 'text/plain' }, T0);
    sent.push(r.content as MessageContent);
    t = r.next;
  }
  return { sent, next: t };
}

function receiveAll(contents: readonly Content[], start: TranscriptState = emptyTranscript(), now = T0) {
  let t = start;
  const delivered: Content[] = [];
  let duplicates = 0;
  for (const c of contents) {
    const r = acceptInOrder(crypto, t, c, now);
    delivered.push(...r.deliver);
    if (r.duplicate) duplicates++;
    t = r.next;
  }
  return { t, delivered, duplicates };
}

function encode(t: TranscriptState): Uint8Array {
  const w = new Writer();
  writeTranscript(w, t);
  return w.finish();
}

describe('transcript', () => {
  it('numbers outgoing messages 1, 2, 3 … and chains each to the previous hash; receipts stay outside', () => {
    const { sent, next } = sendMany(3);
    expect(sent.map((c) => c.seq)).toEqual([1, 2, 3]);
    expect(sent[0]!.prevHash.every((b) => b === 0)).toBe(true);
    const receipt = nextOutgoing(crypto, next, { kind: 'receipt', upToSeq: 3 }, T0);
    expect(receipt.content.seq).toBe(0);
    expect(receipt.next).toBe(next);
  });

  it('delivers in order; a reordered stream comes out in order, every message once', () => {
    const { sent } = sendMany(50);
    fc.assert(
      fc.property(fc.shuffledSubarray(sent, { minLength: 50, maxLength: 50 }), (shuffled) => {
        const r = receiveAll(shuffled);
        expect(r.delivered.map((c) => c.seq)).toEqual(sent.map((c) => c.seq));
        expect(r.t.pending).toHaveLength(0);
        expect(receiptSeq(r.t, T0)).toBe(50);
      }),
      { seed: FUZZ.seed, numRuns: 50 },
    );
  });

  it('drops duplicates, including a retransmission of the same content and copies still buffered', () => {
    const { sent } = sendMany(4);
    const r = receiveAll([sent[0]!, sent[2]!, sent[2]!, sent[0]!, sent[1]!, sent[1]!, sent[3]!, sent[3]!]);
    expect(r.delivered.map((c) => c.seq)).toEqual([1, 2, 3, 4]);
    expect(r.duplicates).toBe(4);
  });

  it('detects a message that does not link to its predecessor and changes nothing', () => {
    const { sent } = sendMany(3);
    const start = receiveAll(sent.slice(0, 1)).t;
    const forged = { ...sent[1]!, prevHash: crypto.randomBytes(32) };
    expect(codeOf(() => acceptInOrder(crypto, start, forged, T0))).toBe('TranscriptBroken');
    // a sender that restarted its transcript (restored an old backup): seq 1 again with other content
    // is a fork, reported rather than silently dropped; the same content again is a plain duplicate
    const other = sendMany(2).sent;
    expect(codeOf(() => acceptInOrder(crypto, start, other[0]!, T0))).toBe('TranscriptBroken');
    expect(codeOf(() => acceptInOrder(crypto, start, other[1]!, T0))).toBe('TranscriptBroken');
    expect(acceptInOrder(crypto, start, sent[0]!, T0).duplicate).toBe(true);
    // a held-back seq received again with other content is a fork too
    const withHeld = acceptInOrder(crypto, start, sent[2]!, T0).next;
    expect(codeOf(() => acceptInOrder(crypto, withHeld, { ...sent[2]!, body: utf8.encode('other') }, T0))).toBe('TranscriptBroken');
    expect(acceptInOrder(crypto, withHeld, sent[2]!, T0).duplicate).toBe(true);
    expect(acceptInOrder(crypto, start, sent[1]!, T0).deliver.map((c) => c.seq)).toEqual([2]);
  });

  it('a hole holds later messages back until releaseStalled declares it a gap; a late copy is still delivered once', () => {
    const { sent } = sendMany(5);
    const held = receiveAll([sent[0]!, sent[2]!, sent[3]!], emptyTranscript(), T0);
    expect(held.delivered.map((c) => c.seq)).toEqual([1]);
    expect(releaseStalled(crypto, held.t, T0 + TRANSCRIPT_MAX_WAIT_MS - 1).deliver).toHaveLength(0);
    const released = releaseStalled(crypto, held.t, T0 + TRANSCRIPT_MAX_WAIT_MS);
    expect(released.deliver.map((c) => c.seq)).toEqual([3, 4]);
    expect(released.gaps).toEqual([{ from: 2, to: 2 }]);
    expect(receiptSeq(released.next, T0)).toBe(1); // the sender keeps retransmitting 2
    const late = acceptInOrder(crypto, released.next, sent[1]!, T0 + TRANSCRIPT_MAX_WAIT_MS + 5);
    expect(late.deliver.map((c) => c.seq)).toEqual([2]);
    expect(receiptSeq(late.next, T0)).toBe(4);
    expect(acceptInOrder(crypto, late.next, sent[1]!, T0).duplicate).toBe(true);
    expect(acceptInOrder(crypto, late.next, sent[4]!, T0).deliver.map((c) => c.seq)).toEqual([5]);
  });

  it('a gap is given up after TRANSCRIPT_GAP_MAX_AGE_MS: receipts move past it, a late copy is then a duplicate', () => {
    const { sent } = sendMany(3);
    const held = receiveAll([sent[0]!, sent[2]!]).t;
    const declared = T0 + TRANSCRIPT_MAX_WAIT_MS;
    const released = releaseStalled(crypto, held, declared).next;
    expect(receiptSeq(released, declared + TRANSCRIPT_GAP_MAX_AGE_MS - 1)).toBe(1);
    expect(receiptSeq(released, declared + TRANSCRIPT_GAP_MAX_AGE_MS)).toBe(3);
    const late = acceptInOrder(crypto, released, sent[1]!, declared + TRANSCRIPT_GAP_MAX_AGE_MS);
    expect(late.duplicate).toBe(true);
    expect(late.next.missing).toHaveLength(0);
  });

  it('a full buffer is released across the hole (bounded memory) and the drop is reported', () => {
    const { sent } = sendMany(TRANSCRIPT_MAX_PENDING + 2);
    const withoutFirst = sent.slice(1, TRANSCRIPT_MAX_PENDING + 1);
    const r = receiveAll(withoutFirst);
    expect(r.delivered).toHaveLength(0);
    expect(r.t.pending).toHaveLength(TRANSCRIPT_MAX_PENDING);
    const over = acceptInOrder(crypto, r.t, sent[TRANSCRIPT_MAX_PENDING + 1]!, T0);
    expect(over.deliver).toHaveLength(TRANSCRIPT_MAX_PENDING + 1);
    expect(over.gaps).toEqual([{ from: 1, to: 1 }]);
    expect(over.next.pending).toHaveLength(0);
  });

  it('round-trips byte for byte with held-back messages and gaps', () => {
    const { sent, next } = sendMany(6);
    let t = receiveAll([sent[0]!, sent[2]!, sent[4]!], next).t;
    t = releaseStalled(crypto, t, T0 + TRANSCRIPT_MAX_WAIT_MS).next;
    t = receiveAll([sent[5]!], t).t;
    const t2 = receiveAll([sent[1]!], t).t;
    const bytes = encode(t);
    expect(encode(decodeTranscript(bytes))).toEqual(bytes);
    expect(decodeTranscript(bytes).missing).toEqual(t.missing);
    const held = receiveAll([sent[0]!, sent[3]!]).t;
    expect(decodeTranscript(encode(held)).pending.map((p) => p.content.seq)).toEqual([4]);
    expect(encode(decodeTranscript(encode(t2)))).toEqual(encode(t2));
  });

  it('the decoder throws only DecodeError on arbitrary bytes (seed 42)', () => {
    const { sent } = sendMany(3);
    fuzzDecoder(decodeTranscript, [encode(receiveAll([sent[0]!, sent[2]!]).t)]);
  });
});
