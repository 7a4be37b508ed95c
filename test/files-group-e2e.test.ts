/**
 * A file to a group end to end with real processes: `ratchetd broker` (LevelDB persistence) and
 * three `ratchetd daemon`s from bin/ratchetd.mjs. `ctl group create`, then `ctl send-file --group
 * GROUP PATH` returns once both members have stored and verified the file; each member's event
 * stream carries the message once, with its attachment and groupId; `ctl download` gives the same
 * bytes; the same --idempotency-key again prints the same message id and sends nothing; the SDK's
 * bot.sendFileToGroup does the same from a bot.
 */
import { createHash, randomFillSync } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { processParties } from './fixtures/process-parties.ts';
import type { ApiEvent } from '../daemon/api/client.ts';
import { connect } from '../bots/sdk/index.ts';

const { tempDir, startBroker, startParty, ctl } = processParties('files-group-e2e');

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const fileMessages = (events: ApiEvent[]) => events.flatMap((e) => (e.kind === 'message' && e.message.attachment !== undefined ? [e.message] : []));
describe('a file to a group end to end (real processes)', () => {
  it('ctl send-file --group: every member gets it once, with groupId, byte-identical; a repeated idempotency key sends nothing; the SDK sends to a group too', async () => {
    const broker = await startBroker(await tempDir());
    const [a, b, c] = [await startParty('a', await tempDir(), broker.url), await startParty('b', await tempDir(), broker.url), await startParty('c', await tempDir(), broker.url)];
    const group = JSON.parse((await ctl(a.socket, 'group', 'create', 'ci', b.userId, c.userId)).stdout) as { groupId: string };
    await Promise.all([b, c].map((m) => m.until((ev) => ev.some((e) => e.kind === 'groupChanged' && e.group.groupId === group.groupId), 'the group')));
    const data = randomFillSync(Buffer.alloc(1024 * 1024 + 12_345));
    const path = join(await tempDir(), 'artifact.tar');
    await writeFile(path, data);
    // Waits (no --detach) for both members: exit 0 means both stored and verified it.
    const sent = await ctl(a.socket, 'send-file', '--group', group.groupId, '--idempotency-key', 'build-7', path);
    const { messageId } = JSON.parse(sent.stdout) as { messageId: string };
    expect(sent.stderr).toMatch(/2\/2 members done/);
    for (const m of [b, c]) {
      await m.until((ev) => fileMessages(ev).length === 1, 'the file message', 60_000);
      const [msg] = fileMessages(m.events);
      expect(msg).toMatchObject({ messageId, from: a.userId, groupId: group.groupId, attachment: { fileName: 'artifact.tar', size: data.length } });
      expect(Buffer.from(msg!.attachment!.sha256).toString('hex')).toBe(sha256(data));
      const out = join(m.dir, 'got.tar');
      await ctl(m.socket, 'download', msg!.attachment!.attachmentId, '--out', out);
      expect((await readFile(out)).equals(data)).toBe(true);
    }
    // The same key again: the same message id, nothing sent (no second message anywhere).
    const again = JSON.parse((await ctl(a.socket, 'send-file', '--group', group.groupId, '--idempotency-key', 'build-7', '--detach', path)).stdout) as { messageId: string };
    expect(again.messageId).toBe(messageId);
    // The SDK: a bot on a's daemon sends a small file to the group.
    const bot = await connect({ socket: a.socket });
    try {
      const small = randomFillSync(Buffer.alloc(70_000));
      const viaBot = await bot.sendFileToGroup(group.groupId, { fileName: 'small.bin', data: small });
      for (const m of [b, c]) {
        await m.until((ev) => fileMessages(ev).some((x) => x.messageId === viaBot.messageId), 'the bot\'s file', 60_000);
        expect(fileMessages(m.events).find((x) => x.messageId === viaBot.messageId)).toMatchObject({ groupId: group.groupId, attachment: { fileName: 'small.bin', size: small.length } });
      }
    } finally {
      await bot.stop();
    }
    for (const m of [b, c]) expect(fileMessages(m.events).filter((x) => x.messageId === messageId)).toHaveLength(1);
  });
});
