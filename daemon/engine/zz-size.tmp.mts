import { createTestNet, startTestDaemon, text } from './test-support.ts';
const net = await createTestNet();
const a = await startTestDaemon(net); const b = await startTestDaemon(net);
for (let i = 0; i < 50; i++) { await a.daemon.backend.send({ to: b.userId, body: text('x' + i) }); }
await b.log.until((l) => l.messages().length === 50, '50');
await b.daemon.backend.send({ to: a.userId, body: text('r') });
await a.log.until((l) => l.messages().length === 1, 'r');
await net.hub.idle();
for (const [k, v] of a.backend.data) if (!k.startsWith('outbox') && !k.startsWith('inbox')) console.log('alice', k.slice(0, 12), v.length);
for (const [k, v] of b.backend.data) if (!k.startsWith('inbox')) console.log('bob', k.slice(0, 12), v.length);
await a.daemon.close(); await b.daemon.close();
