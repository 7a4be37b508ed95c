/**
 * Decides who handles one incoming message, in this order:
 *  1. the bot's own messages: acked and ignored;
 *  2. a waiter (waitForMessage) whose filter matches;
 *  3. a registered command (`/name args`; verifiedOnly commands check the sender's trust first);
 *  4. the built-in /help and /status, when the bot has handlers of its own;
 *  5. the "message" listeners, all of them, in registration order;
 *  6. anything else (no "message" listener): answered with a pointer to /help.
 * A bot with no handlers at all (a plain client, e.g. in the CI harness) leaves messages
 * unclaimed for a later waitForMessage. A handler's string result is sent as the reply; a
 * UsageError is answered with its text and the command's usage; any other error propagates (the
 * message stays unacked and is retried).
 */
import type { InboundMessage } from '../../daemon/api/backend.ts';
import { formatHelp, formatUsage, UsageError, type CommandRegistry, type CommandSpec, type ParsedCommand } from './commands.ts';
import type { MessageContext } from './context.ts';
import type { HandlerResult, MessageHandler } from './events.ts';
import type { RouteOutcome } from './dispatcher.ts';

export type CommandContext = MessageContext & { readonly command: ParsedCommand };
export type CommandHandler = (ctx: CommandContext) => HandlerResult;

export interface Waiter {
  match(ctx: MessageContext): boolean;
  resolve(ctx: MessageContext): void;
}

export interface RouterDeps {
  userId: string;
  commands: CommandRegistry<CommandHandler>;
  messageHandlers(): MessageHandler[];
  /** The first waiter that matches (its resolve() removes it). */
  takeWaiter(ctx: MessageContext): Waiter | undefined;
  context(message: InboundMessage): MessageContext;
  description(): string | undefined;
  builtins: { help: boolean; status: boolean };
  statusText(): Promise<string>;
}

const BUILTIN_HELP: CommandSpec & { name: string } = { name: 'help', description: 'this list' };
const BUILTIN_STATUS: CommandSpec & { name: string } = { name: 'status', description: 'is the bot online, and how busy' };

export function helpText(deps: RouterDeps): string {
  const own = deps.commands.list();
  const names = new Set(own.map((c) => c.name));
  const builtins = [deps.builtins.help ? BUILTIN_HELP : undefined, deps.builtins.status ? BUILTIN_STATUS : undefined].filter(
    (c): c is CommandSpec & { name: string } => c !== undefined && !names.has(c.name),
  );
  return formatHelp(deps.description(), [...own, ...builtins].sort((a, b) => a.name.localeCompare(b.name)));
}

async function replyWith(ctx: MessageContext, result: HandlerResult): Promise<void> {
  if (typeof result === 'string' && result !== '') await ctx.reply(result);
}

async function runCommand(deps: RouterDeps, ctx: CommandContext): Promise<boolean> {
  const { name } = ctx.command;
  const command = deps.commands.get(name);
  if (command !== undefined) {
    if (command.verifiedOnly === true && !(await ctx.isVerified())) {
      await ctx.reply(`Only verified contacts may use /${name}: compare safety numbers with this bot and verify it first.`);
      return true;
    }
    try {
      await replyWith(ctx, await command.handler(ctx));
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      await ctx.reply(`${e.message}\nUsage: ${formatUsage(command)}`);
    }
    return true;
  }
  if (name === 'help' && deps.builtins.help) {
    await ctx.reply(helpText(deps));
    return true;
  }
  if (name === 'status' && deps.builtins.status) {
    await ctx.reply(await deps.statusText());
    return true;
  }
  return false;
}

export async function routeMessage(deps: RouterDeps, message: InboundMessage): Promise<RouteOutcome> {
  if (message.from === deps.userId) return 'consumed';
  const ctx = deps.context(message);
  const waiter = deps.takeWaiter(ctx);
  if (waiter !== undefined) {
    waiter.resolve(ctx);
    return 'consumed';
  }
  const handlers = deps.messageHandlers();
  const isBot = handlers.length > 0 || deps.commands.list().length > 0;
  if (!isBot) return 'unclaimed';
  if (ctx.command !== undefined && (await runCommand(deps, ctx as CommandContext))) return 'consumed';
  if (handlers.length === 0) {
    const hint = ctx.command === undefined ? 'I only understand commands.' : `Unknown command /${ctx.command.name}.`;
    await ctx.reply(`${hint} Send /help for the list.`);
    return 'consumed';
  }
  try {
    for (const handler of handlers) await replyWith(ctx, await handler(ctx));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    await ctx.reply(e.message);
  }
  return 'consumed';
}
