/**
 * A size guard in front of Aedes' parser. Aedes 1.x has no maximum packet size: its parser buffers a
 * whole packet (up to 256 MB, before authentication for a CONNECT) before any hook sees it. This
 * scanner follows the MQTT framing (fixed header byte, 1–4 byte "remaining length", body) over the
 * bytes Aedes reads and cuts the connection as soon as a packet *announces* more than the limit,
 * before its body arrives. The precise payload check stays in the ACL (authorizePublish).
 */
export class MqttFrameScanner {
  private state: 'header' | 'length' | 'body' = 'header';
  private lengthValue = 0;
  private lengthBytes = 0;
  private bodyLeft = 0;

  constructor(private readonly maxRemainingLength: number) {}

  /** Feeds the next bytes of the stream; false once a packet is too large or its length malformed. */
  feed(chunk: Uint8Array): boolean {
    let i = 0;
    while (i < chunk.length) {
      if (this.state === 'header') {
        i++; // packet type and flags: Aedes' parser validates them
        this.state = 'length';
        this.lengthValue = 0;
        this.lengthBytes = 0;
      } else if (this.state === 'length') {
        const byte = chunk[i++] as number;
        this.lengthValue += (byte & 0x7f) * 128 ** this.lengthBytes;
        this.lengthBytes++;
        if (this.lengthValue > this.maxRemainingLength) return false;
        if ((byte & 0x80) === 0) {
          this.bodyLeft = this.lengthValue;
          this.state = this.bodyLeft === 0 ? 'header' : 'body';
        } else if (this.lengthBytes === 4) {
          return false; // a fifth length byte is malformed [MQTT-2.2.3]
        }
      } else {
        const take = Math.min(this.bodyLeft, chunk.length - i);
        i += take;
        this.bodyLeft -= take;
        if (this.bodyLeft === 0) this.state = 'header';
      }
    }
    return true;
  }
}

/** A stream Aedes reads: a TCP or TLS socket, or the duplex over a WebSocket. */
export interface GuardedStream {
  read(size?: number): unknown;
  destroy(): unknown;
}

/**
 * Installs the scanner on a stream Aedes will read with `read()` (Aedes 1.x reads in paused mode on
 * 'readable'). Calls `onTooLarge` once and destroys the stream when a packet is over the limit.
 */
export function guardFrames(socket: GuardedStream, maxRemainingLength: number, onTooLarge: () => void): void {
  const scanner = new MqttFrameScanner(maxRemainingLength);
  const read = socket.read.bind(socket);
  let tripped = false;
  socket.read = (size?: number): unknown => {
    const data: unknown = read(size);
    if (!tripped && data instanceof Uint8Array && !scanner.feed(data)) {
      tripped = true;
      onTooLarge();
      socket.destroy();
      return null;
    }
    return data;
  };
}
