/**
 * Acks after storing, without handling one envelope at a time (mqtt.js sends the PUBACK
 * when handleMessage's callback is called, and reads the next packet only then).
 *
 * The callback is called at once, so mqtt.js goes on to the next envelope while this one is being
 * stored; the PUBACK mqtt.js then tries to send is held back here and sent when the envelope is
 * stored, in arrival order (MQTT 3.1.1 §4.6). The one private hook used: PUBACKs pass through
 * `client._sendPacket`. A PUBACK is never sent on a later connection than its PUBLISH came on
 * (there the message id may name another message): it is dropped and the broker redelivers.
 */
import type { MqttClient } from 'mqtt';

/** Inbound envelopes in flight (PUBACK not yet sent); past it mqtt.js' packet pump waits. */
export const MAX_UNACKED_ENVELOPES = 256;

interface HeldAck {
  readonly messageId: number;
  readonly connection: number;
  stored: boolean;
  /** The PUBACK mqtt.js wanted to send (set when it tried). */
  packet: { cmd: string } | undefined;
}

type SendPacket = (packet: { cmd: string; messageId?: number }, cb?: (err?: Error) => void, ...rest: unknown[]) => void;

export interface OrderedAcks {
  /**
   * Registers an inbound QoS 1 envelope; returns `stored` (call once it is stored) and lets the
   * pump go on via `next` (mqtt.js' callback), now or once fewer than the limit are in flight.
   */
  hold(messageId: number, next: () => void): { stored(): void; readonly current: () => boolean };
  /** The connection is gone (or is being dropped): forget everything held for it. */
  connectionLost(): void;
}

export function installOrderedAcks(client: MqttClient): OrderedAcks {
  const internals = client as unknown as { _sendPacket: SendPacket };
  const sendPacket: SendPacket = internals._sendPacket.bind(client);
  let connection = 0;
  let held: HeldAck[] = [];
  const waitingPump: Array<() => void> = [];

  const flush = (): void => {
    while (held.length > 0) {
      const head = held[0]!;
      if (!head.stored || head.packet === undefined) break;
      held.shift();
      if (head.connection === connection && client.connected) sendPacket(head.packet);
    }
    while (waitingPump.length > 0 && held.length < MAX_UNACKED_ENVELOPES) waitingPump.shift()!();
  };

  internals._sendPacket = (packet, cb, ...rest) => {
    if (packet.cmd === 'puback') {
      if (!client.connected) {
        // mqtt.js would queue it for the next connection: drop it, the broker redelivers.
        cb?.();
        return;
      }
      const h = held.find((a) => a.messageId === packet.messageId && a.connection === connection && a.packet === undefined);
      if (h !== undefined) {
        h.packet = packet;
        cb?.();
        flush();
        return;
      }
    }
    sendPacket(packet, cb, ...rest);
  };

  return {
    hold(messageId, next) {
      const h: HeldAck = { messageId, connection, stored: false, packet: undefined };
      held.push(h);
      if (held.length < MAX_UNACKED_ENVELOPES) next();
      else waitingPump.push(next);
      return {
        stored() {
          h.stored = true;
          flush();
        },
        current: () => h.connection === connection,
      };
    },
    connectionLost() {
      // The old packet pump is abandoned with its connection (mqtt.js starts a new one per connect).
      connection += 1;
      held = [];
      waitingPump.length = 0;
    },
  };
}
