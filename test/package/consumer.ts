// The package smoke test type-checks this file in the fresh project (strict, NodeNext, no
// skipLibCheck): the published declarations resolve through the `exports` map and are real types.
// Not part of the repo's own type check (tsconfig.json excludes it: `ratchetd` resolves only in a
// project that installed the package).
import { ApiCallError, connectMessenger, type ApiEvent, type Contact, type InboundMessage } from 'ratchetd';
import { connect, type Bot, type MessageContext } from 'ratchetd/bots';
import { startNetwork, type Network, type NetworkDaemon } from 'ratchetd/harness';

export async function exchange(): Promise<string> {
  const net: Network = await startNetwork({ daemons: 2 });
  const alice: NetworkDaemon = net.daemon(0);
  const bob = net.daemon(1);
  await alice.bot.send(bob.userId, 'hi');
  const received: MessageContext = await bob.bot.waitForMessage();
  const text: string = received.text;
  // @ts-expect-error -- fails to compile only if the declarations are real: text is a string
  const wrong: number = received.text;
  void wrong;
  await net.stop();
  return text;
}

export async function client(socketPath: string): Promise<Contact[]> {
  const api = connectMessenger({ socketPath });
  for await (const event of api.receive()) {
    const e: ApiEvent = event;
    if (e.kind === 'message') {
      const m: InboundMessage = e.message;
      await api.ack([m.messageId]);
    }
    break;
  }
  try {
    return await api.listContacts();
  } catch (e) {
    if (e instanceof ApiCallError) return [];
    throw e;
  } finally {
    api.close();
  }
}

export async function bot(socket: string): Promise<Bot> {
  const b = await connect({ socket });
  b.command('ping', () => 'pong');
  return b;
}
