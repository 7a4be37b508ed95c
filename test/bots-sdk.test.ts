// The bot SDK against the real gRPC server over a Unix socket, with the in-memory fake backend
// standing in for the daemon engine.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApiServer, type ApiServer } from '../daemon/api/server.ts';
import { eventually, silentLogger as silentPino, startTestApi, type TestApi } from '../daemon/api/test-server.ts';
import type { UserId } from '../core/user-id.ts';
import { Bot, BotConnectError, BotStoppedError, BotTimeoutError, connect, silentLogger, UsageError, type BotOptions, type MessageContext } from '../bots/sdk/index.ts';

const FAST: BotOptions = { logger: silentLogger, reconnect: { initialDelayMs: 20, maxDelayMs: 100 }, retry: { initialDelayMs: 20, maxDelayMs: 100 } };

let api: TestApi;
let extraServers: ApiServer[];
let bots: Bot[];

beforeEach(async () => {
  api = await startTestApi();
  extraServers = [];
  bots = [];
});

afterEach(async () => {
  await Promise.all(bots.map((b) => b.stop({ timeoutMs: 100 })));
  await Promise.all(extraServers.map((s) => s.close()));
  await api.cleanup();
});

async function newBot(options: BotOptions = {}): Promise<Bot> {
  const bot = await connect({ socket: api.socketPath, ...FAST, ...options });
  bots.push(bot);
  return bot;
}

function text(body: Uint8Array): string {
  return new TextDecoder().decode(body);
}

/** Replies the fake daemon was asked to send to `peer`, as text. */
function repliesTo(peer: UserId): string[] {
  return api.backend.sent.filter((s) => s.to === peer).map((s) => text(s.body));
}

async function inboxDepth(): Promise<number> {
  return (await api.backend.getStatus()).inboxDepth;
}

/** Polls until the fake daemon's inbox holds `depth` unacked messages (the test timeout bounds it). */
async function untilInboxDepth(depth: number): Promise<void> {
  while ((await inboxDepth()) !== depth) await new Promise((r) => setTimeout(r, 5));
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((done) => (resolve = done));
  return { promise, resolve };
}

/** Restarts the API on the same socket with the same backend (the daemon came back). */
async function restartApi(): Promise<void> {
  await api.server.close();
  const server = createApiServer({ backend: api.backend, socketPath: api.socketPath, logger: silentPino });
  extraServers.push(server);
  await server.start();
}

describe('connect', () => {
  it('learns the daemon identity', async () => {
    const bot = await newBot();
    expect(bot.userId).toBe(api.backend.identity.userId);
    expect(bot.identity.identityKey).toEqual(api.backend.identity.identityKey);
  });

  it('fails with BotConnectError when no daemon listens', async () => {
    await expect(connect({ socket: `${api.dir}/missing.sock`, connectTimeoutMs: 200, logger: silentLogger })).rejects.toBeInstanceOf(BotConnectError);
  });

  it('connects over TCP with the bearer token, and refuses a wrong token', async () => {
    const token = 'a-long-enough-test-token-0123456789';
    const tcpApi = await startTestApi({ tcp: { token } });
    try {
      const address = tcpApi.listening.tcp?.address ?? '';
      const bot = await connect({ tcp: address, token, logger: silentLogger });
      bots.push(bot);
      expect(bot.userId).toBe(tcpApi.backend.identity.userId);
      const refused = connect({ tcp: address, token: 'wrong-token-wrong-token-wrong', logger: silentLogger, connectTimeoutMs: 2_000 });
      await expect(refused).rejects.toThrow(/UNAUTHENTICATED/);
    } finally {
      await Promise.all(bots.splice(0).map((b) => b.stop()));
      await tcpApi.cleanup();
    }
  });
});

describe('handlers and routing', () => {
  it('a message handler replies; the reply carries an idempotency key; the message is acked', async () => {
    const peer = api.backend.addPeer();
    const bot = await newBot();
    bot.on('message', (ctx) => ctx.reply(`echo: ${ctx.text}`));
    await bot.start();
    api.backend.deliver(peer, 'hello');
    await eventually(() => repliesTo(peer).length === 1);
    expect(repliesTo(peer)).toEqual(['echo: hello']);
    expect(api.backend.sent[0]?.idempotencyKey).toMatch(/:r0:[0-9a-f]{16}$/);
    await untilInboxDepth(0);
  });

  it('routes commands with parsed arguments; a returned string is the reply', async () => {
    const peer = api.backend.addPeer();
    const bot = await newBot();
    const seen: string[][] = [];
    bot.command('add', { usage: '<a> <b>', description: 'adds two numbers' }, (ctx) => {
      seen.push(ctx.args);
      const [a, b] = ctx.args.map(Number);
      if (ctx.args.length !== 2 || !Number.isFinite(a) || !Number.isFinite(b)) throw new UsageError('I need two numbers.');
      return String((a ?? 0) + (b ?? 0));
    });
    await bot.start();
    api.backend.deliver(peer, '/add 2 3');
    api.backend.deliver(peer, '/ADD "two words"');
    await eventually(() => repliesTo(peer).length === 2);
    expect(repliesTo(peer)).toEqual(['5', 'I need two numbers.\nUsage: /add <a> <b>']);
    expect(seen).toEqual([['2', '3'], ['two words']]);
    await untilInboxDepth(0);
  });

  it('answers /help with the command list, /status, unknown commands and plain text (no message handler)', async () => {
    const peer = api.backend.addPeer();
    const bot = await newBot({ description: 'Calculator.' });
    bot.command('add', { usage: '<a> <b>', description: 'adds' }, () => 'x');
    await bot.start();
    for (const t of ['/help', '/status', '/nope', 'just text']) api.backend.deliver(peer, t);
    await eventually(() => repliesTo(peer).length === 4);
    const [help, status, unknown, plain] = repliesTo(peer);
    expect(help).toBe('Calculator.\n\nCommands:\n/add <a> <b> — adds\n/help — this list\n/status — is the bot online, and how busy');
    expect(status).toMatch(/^Online since \d{4}-.*messages handled\.\nBroker connected; inbox \d+, outbox \d+\.$/);
    expect(unknown).toBe('Unknown command /nope. Send /help for the list.');
    expect(plain).toBe('I only understand commands. Send /help for the list.');
  });

  it('gives unknown commands to the message handler when there is one; built-ins can be turned off', async () => {
    const peer = api.backend.addPeer();
    const bot = await newBot({ builtins: { help: false, status: true } });
    bot.on('message', (ctx) => `got ${ctx.text}`);
    await bot.start();
    api.backend.deliver(peer, '/help');
    api.backend.deliver(peer, '/other x');
    await eventually(() => repliesTo(peer).length === 2);
    expect(repliesTo(peer)).toEqual(['got /help', 'got /other x']);
  });

  it('a verifiedOnly command refuses unverified contacts and obeys verified ones', async () => {
    const peer = api.backend.addPeer();
    const bot = await newBot();
    let ran = 0;
    bot.command('open', { verifiedOnly: true }, () => {
      ran++;
      return 'opened';
    });
    await bot.start();
    api.backend.deliver(peer, '/open');
    await eventually(() => repliesTo(peer).length === 1);
    expect(repliesTo(peer)[0]).toMatch(/^Only verified contacts may use \/open/);
    expect(ran).toBe(0);
    const contact = (await bot.listContacts()).find((c) => c.userId === peer);
    await bot.verifyContact(peer, contact?.safetyNumber ?? '');
    api.backend.deliver(peer, '/open');
    await eventually(() => repliesTo(peer).length === 2);
    expect(repliesTo(peer)[1]).toBe('opened');
    expect(ran).toBe(1);
  });

  it('handles messages one at a time in the daemon order by default', async () => {
    const peer = api.backend.addPeer();
    for (let i = 0; i < 5; i++) api.backend.deliver(peer, `m${i}`);
    const bot = await newBot();
    const order: string[] = [];
    let running = 0;
    let maxRunning = 0;
    bot.on('message', async (ctx) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await new Promise((r) => setImmediate(r));
      order.push(ctx.text);
      running--;
    });
    await bot.start();
    await eventually(() => order.length === 5);
    expect(order).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    expect(maxRunning).toBe(1);
  });

  it('ignores (and acks) its own messages', async () => {
    const peer = api.backend.addPeer();
    const bot = await newBot();
    const handled: string[] = [];
    bot.on('message', (ctx) => {
      handled.push(ctx.from);
    });
    await bot.start();
    api.backend.deliver(api.backend.identity.userId, 'from myself');
    api.backend.deliver(peer, 'from a peer');
    await eventually(() => handled.length === 1);
    await untilInboxDepth(0);
    expect(handled).toEqual([peer]);
    expect(api.backend.sent).toHaveLength(0);
  });

  it('emits delivery and identity-change events', async () => {
    const peer = api.backend.addPeer();
    const bot = await newBot();
    const deliveries: string[] = [];
    const changes: string[] = [];
    bot.on('delivery', (d) => {
      deliveries.push(`${d.to}:${d.state}`);
    });
    bot.on('identityChanged', (c) => {
      changes.push(c.userId);
    });
    await bot.start();
    await bot.send(peer, 'hi');
    api.backend.changeIdentity(peer);
    await eventually(() => deliveries.length === 1 && changes.length === 1);
    expect(deliveries).toEqual([`${peer}:sent`]);
    expect(changes).toEqual([peer]);
  });
});

describe('acks and redelivery', () => {
  it('acks a message only after its handler resolved', async () => {
    const peer = api.backend.addPeer();
    const bot = await newBot();
    const gate = deferred();
    let started = false;
    const acked: string[] = [];
    bot.on('acked', (id) => {
      acked.push(id);
    });
    bot.on('message', async () => {
      started = true;
      await gate.promise;
    });
    await bot.start();
    const message = api.backend.deliver(peer, 'slow');
    await eventually(() => started);
    await bot.getStatus(); // a full round trip through the daemon while the handler is blocked
    expect(await inboxDepth()).toBe(1);
    expect(acked).toEqual([]);
    gate.resolve();
    await eventually(() => acked.length === 1);
    expect(acked).toEqual([message.messageId]);
    await untilInboxDepth(0);
  });

  it('a throwing handler leaves the message unacked; a new connection gets it again and acks it', async () => {
    const peer = api.backend.addPeer();
    const crashing = await newBot({ retry: { initialDelayMs: 3_600_000 } });
    const failures: number[] = [];
    crashing.on('handlerError', (info) => {
      failures.push(info.attempt);
    });
    crashing.on('message', () => {
      throw new Error('handler bug');
    });
    await crashing.start();
    const message = api.backend.deliver(peer, 'important');
    await eventually(() => failures.length === 1);
    expect(await inboxDepth()).toBe(1);
    await crashing.stop();

    const fixed = await newBot();
    const received: string[] = [];
    fixed.on('message', (ctx) => {
      received.push(ctx.message.messageId);
    });
    await fixed.start();
    await eventually(() => received.length === 1);
    expect(received).toEqual([message.messageId]);
    await untilInboxDepth(0);
  });

  it('retries a failed handler in process; a reply sent before the crash is not sent twice', async () => {
    const peer = api.backend.addPeer();
    const bot = await newBot();
    const attempts: string[] = [];
    bot.on('message', async (ctx) => {
      attempts.push(ctx.message.messageId);
      await ctx.reply('working on it');
      if (attempts.length === 1) throw new Error('transient failure');
      await ctx.reply('done');
    });
    await bot.start();
    api.backend.deliver(peer, 'job');
    await eventually(() => repliesTo(peer).length === 2);
    expect(attempts).toHaveLength(2);
    expect(attempts[0]).toBe(attempts[1]);
    expect(repliesTo(peer)).toEqual(['working on it', 'done']);
  });

  it('does not run a handler twice when the replay after a reconnect offers a message still being handled', async () => {
    const peer = api.backend.addPeer();
    const bot = await newBot();
    const gate = deferred();
    const calls: string[] = [];
    let connections = 0;
    bot.on('connected', () => {
      connections++;
    });
    bot.on('message', async (ctx) => {
      calls.push(ctx.message.messageId);
      await gate.promise;
    });
    await bot.start();
    api.backend.deliver(peer, 'long job');
    await eventually(() => calls.length === 1);
    await restartApi();
    await eventually(() => connections === 2);
    expect(bot.backlog.running).toBe(1);
    gate.resolve();
    await untilInboxDepth(0);
    await eventually(() => bot.backlog.running === 0);
    expect(bot.backlog).toEqual({ queued: 0, running: 0, retrying: 0, unclaimed: 0, unconfirmedAcks: 0 });
    expect(calls).toHaveLength(1);
  });
});

describe('reconnect and shutdown', () => {
  it('reconnects with backoff after the daemon restarts and keeps handling messages', async () => {
    const peer = api.backend.addPeer();
    const bot = await newBot();
    const disconnects: number[] = [];
    let connections = 0;
    bot.on('disconnected', (info) => {
      disconnects.push(info.retryInMs);
    });
    bot.on('connected', () => {
      connections++;
    });
    bot.on('message', (ctx) => `got ${ctx.text}`);
    await bot.start();
    expect(bot.connected).toBe(true);
    await api.server.close();
    await eventually(() => disconnects.length >= 2);
    expect(bot.connected).toBe(false);
    expect(disconnects.every((d) => d >= 10 && d <= 100)).toBe(true);
    api.backend.deliver(peer, 'while away');
    const server = createApiServer({ backend: api.backend, socketPath: api.socketPath, logger: silentPino });
    extraServers.push(server);
    await server.start();
    await eventually(() => connections === 2);
    api.backend.deliver(peer, 'after');
    await eventually(() => repliesTo(peer).length === 2);
    expect(repliesTo(peer)).toEqual(['got while away', 'got after']);
  });

  it('stop() lets a running handler finish and ack, and takes no new messages', async () => {
    const peer = api.backend.addPeer();
    const bot = await newBot();
    const gate = deferred();
    const handled: string[] = [];
    bot.on('message', async (ctx) => {
      handled.push(ctx.text);
      if (ctx.text === 'first') await gate.promise;
    });
    await bot.start();
    api.backend.deliver(peer, 'first');
    await eventually(() => handled.length === 1);
    api.backend.deliver(peer, 'second');
    let stopped = false;
    const stopping = bot.stop().then(() => (stopped = true));
    await api.client.getStatus();
    expect(stopped).toBe(false);
    gate.resolve();
    await stopping;
    expect(handled).toEqual(['first']);
    expect(await inboxDepth()).toBe(1);
    await expect(bot.start()).rejects.toBeInstanceOf(BotStoppedError);
  });

  it('stop() gives up on a stuck handler after its timeout, aborts its signal and leaves the message unacked', async () => {
    const peer = api.backend.addPeer();
    const bot = await newBot();
    let signal: AbortSignal | undefined;
    bot.on('message', (ctx) => {
      signal = ctx.signal;
      return new Promise<void>(() => undefined);
    });
    await bot.start();
    api.backend.deliver(peer, 'stuck');
    await eventually(() => signal !== undefined);
    await bot.stop({ timeoutMs: 50 });
    expect(signal?.aborted).toBe(true);
    expect(await inboxDepth()).toBe(1);
  });
});

describe('waitForMessage (plain clients without handlers)', () => {
  it('keeps unhandled messages unacked and hands them to a later waiter, which acks them', async () => {
    const peer = api.backend.addPeer();
    const other = api.backend.addPeer();
    const bot = await newBot();
    await bot.start();
    api.backend.deliver(other, 'not for the waiter');
    api.backend.deliver(peer, 'early');
    await eventually(() => bot.backlog.unclaimed === 2);
    expect(await inboxDepth()).toBe(2);
    const ctx = await bot.waitForMessage((m) => m.from === peer);
    expect(ctx.text).toBe('early');
    expect(bot.backlog.unclaimed).toBe(1);
    await untilInboxDepth(1);
    const later = bot.waitForMessage((m: MessageContext) => m.text === 'late');
    api.backend.deliver(peer, 'late');
    expect((await later).from).toBe(peer);
  });

  it('rejects with BotTimeoutError, and with BotStoppedError when the bot stops', async () => {
    const bot = await newBot();
    await expect(bot.waitForMessage(() => true, { timeoutMs: 20 })).rejects.toBeInstanceOf(BotTimeoutError);
    const waiting = bot.waitForMessage();
    await bot.stop();
    await expect(waiting).rejects.toBeInstanceOf(BotStoppedError);
  });

  it('a message handler added later takes the messages nobody claimed', async () => {
    const peer = api.backend.addPeer();
    const bot = await newBot();
    await bot.start();
    api.backend.deliver(peer, 'waiting for a handler');
    await eventually(() => bot.backlog.unclaimed === 1);
    const handled: string[] = [];
    bot.on('message', (ctx) => {
      handled.push(ctx.text);
    });
    await eventually(() => handled.length === 1);
    expect(handled).toEqual(['waiting for a handler']);
    await untilInboxDepth(0);
  });
});
