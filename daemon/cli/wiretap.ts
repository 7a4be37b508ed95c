/**
 * A TCP pass-through between MQTT clients and the broker that reports every PUBLISH a client
 * sends: topic and payload bytes, i.e. exactly what the relay sees. Used by the demo to show that
 * the broker only ever carries ciphertext. Bytes are forwarded unchanged in both directions; the
 * client-to-broker direction is also fed to an MQTT packet parser (mqtt-packet, MQTT 3.1.1).
 */
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';

export interface TappedPublish {
  topic: string;
  payload: Uint8Array;
  retain: boolean;
}

export interface Wiretap {
  /** mqtt://127.0.0.1:PORT to give to clients instead of the broker's URL. */
  url: string;
  close(): Promise<void>;
}

export async function startWiretap(brokerUrl: string, onPublish: (p: TappedPublish) => void): Promise<Wiretap> {
  const target = new URL(brokerUrl);
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect({ host: target.hostname, port: Number(target.port || 1883) });
    sockets.add(client).add(upstream);
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (packet) => {
      if (packet.cmd === 'publish') {
        const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
        onPublish({ topic: packet.topic, payload: new Uint8Array(payload), retain: packet.retain });
      }
    });
    parser.on('error', () => undefined); // the broker judges malformed traffic; the tap only watches
    client.on('data', (chunk: Buffer) => {
      parser.parse(chunk);
    });
    client.pipe(upstream).pipe(client);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => done());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((done) => {
        for (const s of sockets) s.destroy();
        server.close(() => done());
      }),
  };
}
