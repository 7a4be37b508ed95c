/**
 * CI notifier: sends one message from a CI job's daemon to a user and, optionally, waits for
 * their reply — e.g. "deploy to production? reply yes" as a shell step.
 *
 *   npm run -s bot:ci-notify -- --socket S --to USER "build 1234 passed"
 *   answer=$(npm run -s bot:ci-notify -- --socket S --to USER --wait-reply --timeout 600 "deploy? (yes/no)")
 *
 * The reply's text goes to stdout (one line per line of the reply), logs to stderr. Exit status:
 * 0 sent (and, with --wait-reply, a reply arrived), 1 failure (daemon unreachable, send refused),
 * 2 usage mistake, 124 no reply before the timeout (as timeout(1)). Other people's messages are
 * left untouched (unacked) for whoever else reads this daemon.
 */
import { readFileSync } from 'node:fs';
import { ArgsError, BotTimeoutError, connect, DAEMON_FLAGS_HELP, parseBotArgs, runMain } from '../sdk/index.ts';

const USAGE = `Usage: npm run -s bot:ci-notify -- --socket PATH --to USER [--wait-reply [--timeout SECONDS]] [TEXT…]

Sends TEXT (or stdin when no TEXT is given) to USER.

  --to USER              recipient user id
  --wait-reply           wait for USER's reply and print its text on stdout
  --timeout SECONDS      how long to wait for the reply (default 60); exit 124 when it runs out
  --idempotency-key KEY  a retried job with the same key does not send twice (e.g. "$CI_JOB_ID-notify")
${DAEMON_FLAGS_HELP}

Exit status: 0 sent (and replied), 1 failure, 2 usage mistake, 124 no reply in time.
`;

const NO_REPLY = 124;

runMain(USAGE, async (argv) => {
  const args = parseBotArgs(argv, { to: { type: 'string' }, 'wait-reply': { type: 'boolean' }, timeout: { type: 'string' }, 'idempotency-key': { type: 'string' } });
  const to = args.string('to');
  if (to === undefined) throw new ArgsError('--to USER is required');
  const timeoutMs = args.number('timeout', 60, 0) * 1000;
  const text = args.positionals.length > 0 ? args.positionals.join(' ') : readFileSync(0, 'utf8');
  if (text.trim() === '') throw new ArgsError('nothing to send: give TEXT or pipe it on stdin');
  const idempotencyKey = args.string('idempotency-key');

  const bot = await connect(args.connect);
  try {
    const sentAt = Date.now();
    const { messageId } = await bot.send(to, text, idempotencyKey === undefined ? {} : { idempotencyKey });
    args.logger.info('sent', { messageId, to });
    if (!args.flag('wait-reply')) return 0;
    const reply = await bot.waitForMessage((m) => m.from === to && m.message.receivedAt >= sentAt, { timeoutMs });
    process.stdout.write(reply.text.endsWith('\n') ? reply.text : `${reply.text}\n`);
    return 0;
  } catch (e) {
    if (!(e instanceof BotTimeoutError)) throw e;
    process.stderr.write(`no reply from ${to} within ${timeoutMs / 1000} s\n`);
    return NO_REPLY;
  } finally {
    await bot.stop();
  }
});
