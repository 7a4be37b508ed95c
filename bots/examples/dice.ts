/**
 * The bot from bots/README.md ("Write a bot in 20 lines"): /roll [sides], a command only verified
 * contacts may use, and a reply to everything else.
 *
 *   npx tsx bots/examples/dice.ts --socket /path/to/api.sock
 */
import { connect, parseBotArgs, runBot, runMain, UsageError } from '../sdk/index.ts';

runMain('Usage: dice.ts --socket PATH\n', async (argv) => {
  const args = parseBotArgs(argv);
  const bot = await connect({ ...args.connect, description: 'Dice bot: I roll dice.' });

  bot.command('roll', { usage: '[sides]', description: 'roll a die' }, (ctx) => {
    const sides = Number(ctx.args[0] ?? 6);
    if (!Number.isInteger(sides) || sides < 2) throw new UsageError('Sides must be a whole number of at least 2.');
    return `You rolled ${1 + Math.floor(Math.random() * sides)} (d${sides}).`;
  });
  bot.command('secret', { verifiedOnly: true, description: 'a secret' }, () => 'Only verified contacts see this.');
  bot.on('message', (ctx) => ctx.reply(`You said "${ctx.text}". Try /roll or /help.`));

  return runBot(bot, 'dice', args.logger);
});
