/**
 * IoT agent: a (simulated) thermometer that sends a reading to each subscribed contact on an
 * interval. It obeys commands only from contacts whose safety number was verified on this
 * device's daemon (`ratchetd ctl verify USER NUMBER`); everyone else gets a refusal. Readings go
 * only to subscribers that are still verified (a changed identity stops them).
 *
 *   npm run bot:iot -- --socket /path/to/api.sock [--interval SECONDS] [--device NAME]
 *
 * Commands: /subscribe, /unsubscribe, /reading, /set interval <seconds>, /help, /status.
 */
import { connect, DAEMON_FLAGS_HELP, parseBotArgs, runBot, runMain, UsageError } from '../sdk/index.ts';
import { simulatedThermometer } from './thermometer.ts';

const USAGE = `Usage: npm run bot:iot -- --socket PATH [--interval SECONDS] [--device NAME]

Sends simulated sensor readings to subscribed, verified contacts.

  --interval SECONDS   time between readings (default 10)
  --device NAME        name shown in readings (default thermometer-1)
${DAEMON_FLAGS_HELP}
`;

runMain(USAGE, async (argv) => {
  const args = parseBotArgs(argv, { interval: { type: 'string' }, device: { type: 'string' } });
  let intervalMs = args.number('interval', 10, 0.01) * 1000;
  const sensor = simulatedThermometer(args.string('device') ?? 'thermometer-1');
  const subscribers = new Set<string>();
  const bot = await connect({ ...args.connect, description: `IoT agent ${sensor.name}: readings for verified contacts.` });
  const verified = { verifiedOnly: true };

  bot.command('subscribe', { ...verified, description: 'get a reading every interval' }, (ctx) => {
    subscribers.add(ctx.from);
    return `Subscribed: a reading every ${intervalMs / 1000} s. Now: ${sensor.read()}`;
  });
  bot.command('unsubscribe', { ...verified, description: 'stop the readings' }, (ctx) => {
    subscribers.delete(ctx.from);
    return 'Unsubscribed.';
  });
  bot.command('reading', { ...verified, description: 'one reading now' }, () => sensor.read());
  bot.command('set', { ...verified, usage: 'interval <seconds>', description: 'change a setting' }, (ctx) => {
    const [name, value] = ctx.args;
    const seconds = Number(value);
    if (name !== 'interval' || ctx.args.length !== 2) throw new UsageError('The only setting is the interval.');
    if (!(seconds >= 1 && seconds <= 86_400)) throw new UsageError('The interval is 1 to 86400 seconds.');
    intervalMs = seconds * 1000;
    return `Interval set to ${seconds} s.`;
  });

  // One reading per interval to every subscriber that is verified right now.
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const tick = async (): Promise<void> => {
    const trusted = new Set<string>((await bot.listContacts()).filter((c) => c.trust === 'verified').map((c) => c.userId));
    const reading = sensor.read();
    for (const to of subscribers) {
      if (!trusted.has(to)) continue;
      await bot.send(to, reading).catch((e: unknown) => args.logger.warn('reading not sent', { to, error: (e as Error).message }));
    }
  };
  const schedule = (): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      tick().catch((e: unknown) => args.logger.warn('could not send readings', { error: (e as Error).message })).finally(schedule);
    }, intervalMs);
  };
  bot.on('stopping', () => {
    stopped = true;
    clearTimeout(timer);
  });
  schedule();
  return runBot(bot, 'iot', args.logger);
});
