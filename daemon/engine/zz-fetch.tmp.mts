import net from 'node:net';
const orig = net.createServer;
(net as any).createServer = (...args: any[]) => { const s = (orig as any)(...args); s.on('connection', (sock: net.Socket) => sock.setNoDelay(true)); return s; };
import pino from 'pino';
import { createBroker } from '../../broker/index.ts';
import { loadCrypto } from '../crypto/index.ts';
import { createIdentity } from '../protocol/index.ts';
import { createRelayProof } from '../protocol/relay-auth.ts';
import { createMqttRelay } from '../relay/mqtt-relay.ts';
const silent = pino({ level: 'silent' });
const { crypto } = await loadCrypto();
const broker = createBroker({ persistence: 'memory', port: 0, logger: silent, crypto });
const { url } = await broker.start();
const mk = () => { const id = createIdentity(crypto); const r = createMqttRelay({ url, userId: id.userId, logger: silent, credentials: () => { const p = createRelayProof(crypto, id, id.userId, 'ratchetd', Date.now()); return { username: p.username, password: p.password }; } }); r.onEnvelope(async () => {}); r.start(); return { id, r }; };
const a = mk(); const b = mk();
await a.r.whenConnected(); await b.r.whenConnected();
await b.r.publishBundle(new Uint8Array(4000).fill(1));
for (let i = 0; i < 5; i++) { const t0 = performance.now(); const x = await a.r.fetchBundle(b.id.userId); console.log('fetch ms', (performance.now() - t0).toFixed(2), x?.length); }
await a.r.close(); await b.r.close(); await broker.close();
