/**
 * Groups end to end with real processes: `ratchetd broker` and daemons from bin/ratchetd.mjs on free
 * ports in a temp dir (the harness), driven through the bot SDK and the CLI.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startNetwork, type Network } from '../bots/harness/network.ts';
import { ApiCallError } from '../daemon/api/client.ts';
import { runCli } from '../daemon/cli/spawn-cli.ts';
import type { MessageContext } from '../bots/sdk/context.ts';

let net: Network | undefined;
afterEach(async () => {
  await net?.stop();
  net = undefined;
});

const inGroup = (groupId: string, text: string) => (ctx: MessageContext) => ctx.groupId === groupId && ctx.text === text;

describe('groups end to end (real broker and daemons)', () => {
  it('three members exchange group messages; ctx.reply answers the group; a non-owner change is PERMISSION_DENIED', { timeout: 120_000 }, async () => {
    net = await startNetwork({ daemons: 3 });
    const [a, b, c] = [net.daemon(0), net.daemon(1), net.daemon(2)];
    const group = await net.createGroup('ops', 0, [1, 2]);
    expect(group).toMatchObject({ name: 'ops', owner: a.userId, version: 1 });

    await a.bot.sendToGroup(group.groupId, 'hello team');
    const [atB, atC] = await Promise.all([b.bot.waitForMessage(inGroup(group.groupId, 'hello team')), c.bot.waitForMessage(inGroup(group.groupId, 'hello team'))]);
    expect([atB.from, atC.from]).toEqual([a.userId, a.userId]);

    // b answers with ctx.reply: it goes to the group, so a and c both get it (b does not)
    await atB.reply('ack from b');
    const [replyAtA, replyAtC] = await Promise.all([a.bot.waitForMessage(inGroup(group.groupId, 'ack from b')), c.bot.waitForMessage(inGroup(group.groupId, 'ack from b'))]);
    expect([replyAtA.from, replyAtC.from]).toEqual([b.userId, b.userId]);

    // ctl: the same group from the CLI, and the message line carries groupId
    const sent = await runCli(['ctl', '--socket', c.socket, 'send', '--group', group.groupId, 'from the cli']);
    expect(sent.code).toBe(0);
    const fromCli = await a.bot.waitForMessage(inGroup(group.groupId, 'from the cli'));
    expect(fromCli.from).toBe(c.userId);

    const denied = await b.bot.addMembers(group.groupId, [c.userId]).catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(ApiCallError);
    expect((denied as ApiCallError).statusName).toBe('PERMISSION_DENIED');
    const listed = await runCli(['ctl', '--socket', b.socket, 'groups']);
    expect(JSON.parse(listed.stdout)).toEqual({ groups: [expect.objectContaining({ groupId: group.groupId, owner: a.userId, version: 1 })] });
  });

  it('a removed member gets nothing sent after its removal, and its sends are FAILED_PRECONDITION', { timeout: 120_000 }, async () => {
    net = await startNetwork({ daemons: 3 });
    const [a, b, c] = [net.daemon(0), net.daemon(1), net.daemon(2)];
    const group = await net.createGroup('g', 0, [1, 2]);
    await b.bot.sendToGroup(group.groupId, 'before');
    await c.bot.waitForMessage(inGroup(group.groupId, 'before'));
    const removedSeen = new Promise<boolean>((done) => c.bot.on('groupChanged', (e) => e.group.groupId === group.groupId && e.removed && done(true)));
    const appliedAtB = new Promise<void>((done) => b.bot.on('groupChanged', (e) => e.group.groupId === group.groupId && e.group.version === 2 && done()));
    const after = await a.bot.removeMembers(group.groupId, [c.userId]);
    expect(after.members).not.toContain(c.userId);
    expect(await removedSeen).toBe(true);
    await appliedAtB;
    await b.bot.sendToGroup(group.groupId, 'after the removal');
    await a.bot.waitForMessage(inGroup(group.groupId, 'after the removal'));
    // a direct message to c after the group one: when it arrives, anything b sent earlier would have too
    await b.bot.send(c.userId, 'direct marker');
    await c.bot.waitForMessage((ctx) => ctx.text === 'direct marker');
    const stray = await c.bot.waitForMessage((ctx) => ctx.groupId === group.groupId, { timeoutMs: 1 }).catch(() => undefined);
    expect(stray).toBeUndefined();
    const refused = await c.bot.sendToGroup(group.groupId, 'x').catch((e: unknown) => e);
    expect((refused as ApiCallError).statusName).toBe('FAILED_PRECONDITION');
  });

  it('an offline member gets every message once, in each sender\'s order, when it comes back', { timeout: 120_000 }, async () => {
    net = await startNetwork({ daemons: 3 });
    const [a, b, c] = [net.daemon(0), net.daemon(1), net.daemon(2)];
    const group = await net.createGroup('g', 0, [1, 2]);
    await a.bot.sendToGroup(group.groupId, 'warm-up');
    await c.bot.waitForMessage(inGroup(group.groupId, 'warm-up'));
    const exited = net.unexpectedExit;
    process.kill(c.pid, 'SIGTERM');
    expect((await exited).name).toBe('daemon 2');
    for (let i = 1; i <= 5; i++) await a.bot.sendToGroup(group.groupId, `a${i}`);
    for (let i = 1; i <= 3; i++) await b.bot.sendToGroup(group.groupId, `b${i}`);
    const got: MessageContext[] = [];
    c.bot.on('message', (ctx) => {
      if (ctx.groupId === group.groupId) got.push(ctx);
    });
    const all = new Promise<void>((done) => {
      const check = c.bot.on('acked', () => got.length >= 8 && (check(), done()));
    });
    await net.restartDaemon(2);
    await all;
    // a marker after everything: nothing more (no duplicate) comes before it
    await a.bot.send(c.userId, 'end marker');
    await c.bot.waitForMessage((ctx) => ctx.text === 'end marker');
    const texts = got.map((x) => x.text);
    expect(texts.length).toBe(8);
    expect(texts.filter((t) => t.startsWith('a'))).toEqual(['a1', 'a2', 'a3', 'a4', 'a5']);
    expect(texts.filter((t) => t.startsWith('b'))).toEqual(['b1', 'b2', 'b3']);
  });
});
