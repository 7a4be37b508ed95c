/**
 * The ratchetd bot SDK.
 *
 *   const bot = await connect({ socket: '/path/to/api.sock' });
 *   bot.command('ping', () => 'pong');
 *   bot.on('message', (ctx) => ctx.reply(ctx.text));
 *   await bot.start();
 */
export { connect, BotConnectError, describeTarget, type ConnectOptions, type DaemonTarget } from './connect.ts';
export { Bot, BotStoppedError, BotTimeoutError, type BotFile, type BotOptions, type BotState, type FileSendOptions, type WaitOptions } from './bot.ts';
export { MessageContext, isTextContentType, type SendOptions } from './context.ts';
export { UsageError, parseCommand, splitArgs, type CommandSpec, type ParsedCommand } from './commands.ts';
export type { Backlog } from './dispatcher.ts';
export type { CommandContext, CommandHandler } from './router.ts';
export type { BotEvents, DeliveryUpdate, HandlerResult, IdentityChange, MessageHandler } from './events.ts';
export { createBackoff, sleep, type Backoff, type BackoffOptions } from './backoff.ts';
export { stderrLogger, silentLogger, type BotLogger, type BotLogLevel } from './logger.ts';
export { ArgsError, DAEMON_FLAGS_HELP, parseBotArgs, runBot, runMain, type ParsedBotArgs } from './cli.ts';
export type { Contact, GroupInfo, InboundMessage, Status, TrustState } from '../../daemon/api/backend.ts';
