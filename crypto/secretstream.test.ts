/**
 * crypto_secretstream_xchacha20poly1305 and incremental SHA-256 behind the Crypto interface: both
 * libsodium builds seal and open the same streams, refuse what is out of order, tampered or under
 * the wrong ad, and leave the reading state unchanged by a refusal.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { SECRETSTREAM_ABYTES, SECRETSTREAM_TAG_FINAL, SECRETSTREAM_TAG_MESSAGE, type Crypto } from '../core/crypto.ts';
import { createNativeCrypto } from './native.ts';
import { createSodiumCrypto } from './sodium.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const ad = (i: number): Uint8Array => Uint8Array.of(i);

const providers: Record<string, Crypto> = {};
beforeAll(async () => {
  providers.wasm = await createSodiumCrypto();
  providers.native = createNativeCrypto();
});

describe.each(['wasm', 'native'])('%s provider', (name) => {
  const c = (): Crypto => providers[name]!;

  it('round-trips a stream with its tags and adds exactly ABYTES per message', () => {
    const key = c().randomBytes(32);
    const push = c().secretstreamPush(key);
    expect(push.header.length).toBe(24);
    const msgs = [c().randomBytes(1000), new Uint8Array(0), c().randomBytes(5)];
    const sealed = msgs.map((m, i) => push.push(m, ad(i), i === msgs.length - 1 ? SECRETSTREAM_TAG_FINAL : SECRETSTREAM_TAG_MESSAGE));
    sealed.forEach((s, i) => expect(s.length).toBe(msgs[i]!.length + SECRETSTREAM_ABYTES));
    const pull = c().secretstreamPull(key, push.header)!;
    sealed.forEach((s, i) => {
      const r = pull.pull(s, ad(i))!;
      expect(hex(r.message)).toBe(hex(msgs[i]!));
      expect(r.tag).toBe(i === msgs.length - 1 ? SECRETSTREAM_TAG_FINAL : SECRETSTREAM_TAG_MESSAGE);
    });
  });

  it('refuses reordered, tampered, wrong-ad and wrong-key messages, and a refusal leaves the state as it was', () => {
    const key = c().randomBytes(32);
    const push = c().secretstreamPush(key);
    const a = push.push(Uint8Array.of(1), ad(0), SECRETSTREAM_TAG_MESSAGE);
    const b = push.push(Uint8Array.of(2), ad(1), SECRETSTREAM_TAG_FINAL);
    const pull = c().secretstreamPull(key, push.header)!;
    expect(pull.pull(b, ad(1))).toBeNull(); // out of order
    const tampered = a.slice();
    tampered[3]! ^= 1;
    expect(pull.pull(tampered, ad(0))).toBeNull();
    expect(pull.pull(a, ad(9))).toBeNull();
    expect(pull.pull(new Uint8Array(5), ad(0))).toBeNull();
    expect([...pull.pull(a, ad(0))!.message]).toEqual([1]);
    expect(pull.pull(a, ad(0))).toBeNull(); // a duplicate
    expect([...pull.pull(b, ad(1))!.message]).toEqual([2]);
    const other = c().secretstreamPull(c().randomBytes(32), push.header)!;
    expect(other.pull(a, ad(0))).toBeNull();
  });

  it('seals and opens into caller buffers, the same bytes as without, and refuses a buffer of the wrong size before the stream moves', () => {
    const key = c().randomBytes(32);
    const push = c().secretstreamPush(key);
    const m0 = c().randomBytes(300);
    const into = new Uint8Array(m0.length + SECRETSTREAM_ABYTES);
    expect(() => push.push(m0, ad(0), SECRETSTREAM_TAG_MESSAGE, new Uint8Array(m0.length))).toThrow(RangeError);
    const s0 = push.push(m0, ad(0), SECRETSTREAM_TAG_MESSAGE, into);
    expect(s0).toBe(into);
    const s1 = push.push(Uint8Array.of(9), ad(1), SECRETSTREAM_TAG_FINAL);
    const plain = c().secretstreamPull(key, push.header)!;
    const reused = c().secretstreamPull(key, push.header)!;
    const message = new Uint8Array(m0.length);
    expect(() => reused.pull(s0, ad(0), new Uint8Array(m0.length + 1))).toThrow(RangeError);
    const r0 = reused.pull(s0, ad(0), message)!;
    expect(r0.message).toBe(message);
    expect(hex(r0.message)).toBe(hex(plain.pull(s0, ad(0))!.message));
    expect(hex(message)).toBe(hex(m0));
    expect(reused.pull(s1, ad(1), new Uint8Array(1))!.tag).toBe(SECRETSTREAM_TAG_FINAL);
  });

  it('refuses bad key and header lengths', () => {
    expect(() => c().secretstreamPush(new Uint8Array(31))).toThrow(RangeError);
    expect(c().secretstreamPull(new Uint8Array(32), new Uint8Array(23))).toBeNull();
    expect(c().secretstreamPull(new Uint8Array(33), new Uint8Array(24))).toBeNull();
  });

  it('incremental SHA-256 equals the one-shot hash', () => {
    const data = c().randomBytes(100_000);
    const h = c().sha256Stream();
    h.update(data.subarray(0, 7));
    h.update(data.subarray(7, 70_000));
    h.update(data.subarray(70_000));
    expect(hex(h.digest())).toBe(hex(c().sha256(data)));
  });
});

describe('the two builds agree', () => {
  it('a stream sealed by one opens with the other, both ways', () => {
    for (const [from, to] of [
      ['wasm', 'native'],
      ['native', 'wasm'],
    ] as const) {
      const key = providers[from]!.randomBytes(32);
      const push = providers[from]!.secretstreamPush(key);
      const s0 = push.push(Uint8Array.of(7, 7), ad(0), SECRETSTREAM_TAG_MESSAGE);
      const s1 = push.push(Uint8Array.of(8), ad(1), SECRETSTREAM_TAG_FINAL);
      const pull = providers[to]!.secretstreamPull(key, push.header)!;
      expect([...pull.pull(s0, ad(0))!.message]).toEqual([7, 7]);
      expect(pull.pull(s1, ad(1))!.tag).toBe(SECRETSTREAM_TAG_FINAL);
    }
  });
});
