/** MessageContext: where a reply goes (the group of a group message, else the sender). */
import { describe, expect, it } from 'vitest';
import type { InboundMessage } from '../../daemon/api/backend.ts';
import type { SendInput } from '../../daemon/api/client.ts';
import type { UserId } from '../../core/user-id.ts';
import { MessageContext } from './context.ts';

function contextOf(message: Partial<InboundMessage>): { ctx: MessageContext; sent: SendInput[] } {
  const sent: SendInput[] = [];
  const full: InboundMessage = {
    messageId: '0'.repeat(32),
    from: 'b'.repeat(32) as UserId,
    body: new TextEncoder().encode('hi'),
    contentType: 'text/plain',
    sentAt: 1,
    receivedAt: 2,
    cursor: 3,
    ...message,
  };
  const services = { send: async (input: SendInput) => (sent.push(input), { messageId: 'm' }), listContacts: async () => [] };
  return { ctx: new MessageContext(full, services, new AbortController().signal), sent };
}

describe('MessageContext.reply', () => {
  it('answers a group message in the group, never to the sender alone', async () => {
    const { ctx, sent } = contextOf({ groupId: 'g'.repeat(26) });
    expect(ctx.groupId).toBe('g'.repeat(26));
    await ctx.reply('to everyone');
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ groupId: 'g'.repeat(26), body: 'to everyone' });
    expect(sent[0]!.to).toBeUndefined();
    expect(sent[0]!.idempotencyKey).toMatch(/^0{32}:r0:/);
  });

  it('answers a direct message to its sender', async () => {
    const { ctx, sent } = contextOf({});
    expect(ctx.groupId).toBeUndefined();
    await ctx.reply('just you');
    expect(sent[0]).toMatchObject({ to: 'b'.repeat(32), body: 'just you' });
    expect(sent[0]!.groupId).toBeUndefined();
  });
});
