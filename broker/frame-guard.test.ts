import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import mqttPacket from 'mqtt-packet';
import { MqttFrameScanner } from './frame-guard.ts';

function publishBytes(payloadBytes: number): Uint8Array {
  return mqttPacket.generate({
    cmd: 'publish',
    topic: 'ratchetd/v1/inbox/x',
    payload: Buffer.alloc(payloadBytes),
    qos: 1,
    messageId: 7,
    retain: false,
    dup: false,
  });
}

describe('MqttFrameScanner', () => {
  it('passes packets up to the limit, split anywhere', () => {
    const stream = Buffer.concat([publishBytes(10), publishBytes(900), Buffer.from([0xc0, 0x00])]); // + PINGREQ
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: stream.length }), { maxLength: 20 }), (cuts) => {
        const s = new MqttFrameScanner(1000);
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        let prev = 0;
        for (const p of [...points, stream.length]) {
          if (!s.feed(stream.subarray(prev, p))) return false;
          prev = p;
        }
        return true;
      }),
      { seed: 42, numRuns: 200 },
    );
  });

  it('trips on the length field of an oversize packet, before its body arrives', () => {
    const big = publishBytes(5000);
    const s = new MqttFrameScanner(1000);
    expect(s.feed(publishBytes(100))).toBe(true);
    expect(s.feed(big.subarray(0, 3))).toBe(false); // header byte + 2 length bytes
  });

  it('trips on a malformed five-byte length', () => {
    const s = new MqttFrameScanner(Number.MAX_SAFE_INTEGER);
    expect(s.feed(Uint8Array.of(0x30, 0x80, 0x80, 0x80, 0x80, 0x01))).toBe(false);
  });

  it('accepts the largest frame exactly at the limit and refuses one byte more', () => {
    const p = publishBytes(500);
    const remaining = p.length - 3; // 1 header byte + 2 length bytes for this size
    expect(new MqttFrameScanner(remaining).feed(p)).toBe(true);
    expect(new MqttFrameScanner(remaining - 1).feed(p)).toBe(false);
  });
});
