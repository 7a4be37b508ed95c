/**
 * Restarts reuse no key or nonce. The group's sender (and owner) runs on a disk that loses power
 * (store/power-cut-backend.ts: only synced batches survive); it is restarted many times mid-stream —
 * cleanly, by a power cut while a burst of Sends is being committed (some commits lost, their Send
 * calls failing), and by a power cut right after a burst's Sends returned (copies maybe not yet
 * published) — and some rounds remove and re-add a member (a rotation). Its crypto is observed (every
 * AEAD encryption's key and nonce, and the wrap key of each routing tag), so every copy the relay
 * carried can be opened: across all of them, no (sender key id, chain iteration) carries two different
 * group messages, no inner nonce and no wrap nonce repeats, and the sender never encrypted twice under
 * one (key, nonce). Every message whose Send returned reaches every member once.
 * Seeded (GROUP_RESTARTS_SEED=n replays a run; the seed is in the failure message).
 */
import { describe, expect, it } from 'vitest';
import { toHex } from '../../../core/bytes.ts';
import type { Crypto } from '../../../core/crypto.ts';
import { decodeGroupEnvelope } from '../../../core/envelope.ts';
import { openCopy } from '../../../core/group/copy.ts';
import { createPrng } from '../../../test/faults/prng.ts';
import { createPowerCutDisk, type PowerCutDisk } from '../../store/power-cut-backend.ts';
import { startOnPowerCutDisk, text, type DiskDaemon, type TestDaemon } from '../test-support.ts';
import { engineTestScope } from '../test-scope.ts';
import { DEFAULT_OUTBOX_POLICY } from '../outbox.ts';
import { atVersion, groupTexts, isCopy } from './group-test-support.ts';

const SEED = Number(process.env.GROUP_RESTARTS_SEED ?? 20_261_201);
const ROUNDS = 18;

const scope = engineTestScope({ ignoreCloseErrors: true });

/** What the sender's crypto did: every AEAD (key, nonce), and the wrap key of every routing tag. */
interface Observed {
  readonly crypto: Crypto;
  readonly keyNonce: Map<string, number>;
  readonly wrapKeyOfTag: Map<string, Uint8Array>;
}

function observe(base: Crypto): Observed {
  const keyNonce = new Map<string, number>();
  const wrapKeyOfTag = new Map<string, Uint8Array>();
  const crypto = new Proxy(base, {
    get(target, prop, receiver) {
      if (prop !== 'aeadEncrypt') return Reflect.get(target, prop, receiver) as unknown;
      return (key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array => {
        const k = `${toHex(key)}:${toHex(nonce)}`;
        keyNonce.set(k, (keyNonce.get(k) ?? 0) + 1);
        // a copy's wrap: AAD = version 1 ‖ kind 0x03 ‖ routing tag (16)
        if (aad.length === 18 && aad[0] === 1 && aad[1] === 3) wrapKeyOfTag.set(toHex(aad.subarray(2)), key.slice());
        return target.aeadEncrypt(key, nonce, plaintext, aad);
      };
    },
  });
  return { crypto, keyNonce, wrapKeyOfTag };
}

async function startSender(disk: PowerCutDisk, storeKey: Uint8Array, crypto: Crypto): Promise<DiskDaemon> {
  return scope.track(await startOnPowerCutDisk(scope.net, disk, storeKey, { crypto, timing: { outbox: { ...DEFAULT_OUTBOX_POLICY, tickMs: 10 } } }));
}

async function stopSender(s: DiskDaemon, disk: PowerCutDisk | null): Promise<void> {
  disk?.powerCut();
  await scope.stop(s, { ignoreErrors: true });
}

const ticks = async (n: number): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
};

describe('group restarts', () => {
  it(`restarts and power cuts mid-stream reuse no sender key step and no nonce (seed ${SEED})`, async () => {
    const rng = createPrng(SEED);
    try {
      const disk = createPowerCutDisk();
      const storeKey = scope.net.crypto.randomBytes(32);
      const seen = observe(scope.net.crypto);
      const members: TestDaemon[] = [];
      for (let i = 0; i < 3; i++) members.push(await scope.start());
      const [b, c, d] = members as [TestDaemon, TestDaemon, TestDaemon];
      let a = await startSender(disk, storeKey, seen.crypto);
      const g = await a.daemon.backend.createGroup('restarts', [b.userId, c.userId, d.userId]);
      await Promise.all(members.map((m) => atVersion(m, g.groupId, 1)));
      const returned: string[] = [];
      let n = 0;
      let dIn = true;
      const modes: string[] = [];

      for (let round = 0; round < ROUNDS; round++) {
        const mode = rng.pick(['clean', 'cut-while-committing', 'cut-after-return'] as const);
        modes.push(mode);
        if (rng.next() < 0.25) {
          // a removal (every sender rotates) or a re-add
          const v = dIn ? await a.daemon.backend.removeMembers(g.groupId, [d.userId]) : await a.daemon.backend.addMembers(g.groupId, [d.userId]);
          dIn = !dIn;
          await Promise.all([b, c].map((m) => atVersion(m, g.groupId, v.version)));
        }
        const burst = Array.from({ length: rng.int(1, 6) }, () => `r${round} m${n++}`);
        if (mode === 'cut-while-committing') {
          const sends = burst.map((t) => a.daemon.backend.send({ groupId: g.groupId, body: text(t) }).then(() => returned.push(t), () => undefined));
          await ticks(rng.int(0, 4));
          await stopSender(a, disk);
          await Promise.all(sends);
        } else {
          for (const t of burst) {
            await a.daemon.backend.send({ groupId: g.groupId, body: text(t) });
            returned.push(t);
          }
          await stopSender(a, mode === 'cut-after-return' ? disk : null);
        }
        a = await startSender(disk, storeKey, seen.crypto);
      }

      await scope.net.hub.idle();
      // every copy the relay carried, opened
      const steps = new Map<string, string>();
      const innerNonces = new Map<string, string>();
      const wrapNonces = new Set<string>();
      let copies = 0;
      for (const p of scope.net.hub.published) {
        if (!isCopy(p.envelope)) continue;
        copies++;
        const env = decodeGroupEnvelope(p.envelope);
        const wrapNonce = toHex(env.nonce);
        expect(wrapNonces.has(wrapNonce), 'a wrap nonce repeated').toBe(false);
        wrapNonces.add(wrapNonce);
        const wrapKey = seen.wrapKeyOfTag.get(toHex(env.tag));
        expect(wrapKey, 'a copy under a tag the sender never wrapped for').toBeDefined();
        const inner = openCopy(scope.net.crypto, wrapKey!, env);
        const view = new DataView(inner.buffer, inner.byteOffset, inner.byteLength);
        const step = `${view.getUint32(1)}:${view.getUint32(5)}`;
        const innerHex = toHex(inner);
        // the same group message goes to every member (one encryption); a different one must not share its step or nonce
        const atStep = steps.get(step);
        expect(atStep === undefined || atStep === innerHex, `sender key step ${step} carried two different messages`).toBe(true);
        steps.set(step, innerHex);
        const nonce = toHex(inner.subarray(9, 33));
        const atNonce = innerNonces.get(nonce);
        expect(atNonce === undefined || atNonce === innerHex, 'an inner nonce repeated').toBe(true);
        innerNonces.set(nonce, innerHex);
      }
      // every message whose Send returned reaches b and c once: a copy lost with the power (its Send
      // returned, the process died before it was published) comes by the sender's re-send timer
      await scope.net.hub.idle();
      scope.net.clock.offsetMs += DEFAULT_OUTBOX_POLICY.retryInitialMs + 1_000;
      for (const m of [b, c]) {
        await m.log.until(() => returned.every((t) => groupTexts(m, g.groupId).includes(t)), `every returned message at ${m.userId}`, 30_000);
      }
      await scope.net.hub.idle();
      for (const m of [b, c]) {
        const got = groupTexts(m, g.groupId);
        expect(new Set(got).size, 'a message delivered twice').toBe(got.length);
      }

      const repeats = [...seen.keyNonce.values()].filter((x) => x > 1).length;
      expect(repeats, 'an AEAD (key, nonce) pair used twice by the sender').toBe(0);
      // the run did what it says: many copies under several keys, every kind of restart
      expect(copies).toBeGreaterThan(40);
      expect(new Set([...steps.keys()].map((s) => s.split(':')[0])).size).toBeGreaterThan(1);
      expect(new Set(modes).size).toBe(3);
      expect(returned.length).toBeGreaterThan(ROUNDS);
    } catch (e) {
      throw new Error(`group restarts failed (GROUP_RESTARTS_SEED=${SEED}): ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  }, 60_000);
});
