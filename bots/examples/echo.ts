/**
 * Echo bot: sends every message back to its sender, unchanged (same bytes, same content type),
 * and answers /help.
 *
 *   npm run bot:echo -- --socket /path/to/api.sock
 *
 * Prints {"event":"ready","bot":"echo","userId":"…"} when it is listening; stops on Ctrl-C.
 */
import { connect, DAEMON_FLAGS_HELP, parseBotArgs, runBot, runMain } from '../sdk/index.ts';

const USAGE = `Usage: npm run bot:echo -- --socket PATH\n\nReplies to every message with the same message.\n\n${DAEMON_FLAGS_HELP}\n`;

runMain(USAGE, async (argv) => {
  const args = parseBotArgs(argv);
  const bot = await connect({ ...args.connect, description: 'Echo bot: I send back every message you send me.' });
  bot.on('message', (ctx) => ctx.reply(ctx.body, { contentType: ctx.contentType }));
  return runBot(bot, 'echo', args.logger);
});
