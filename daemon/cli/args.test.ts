/** Options from the environment (args.ts): one mechanism for every command. */
import { describe, expect, it } from 'vitest';
import { attributeToEnvironment, envVariable, environmentHelp, parseCommandArgs, parsePort, stringOption, UsageError, withoutEnvironment } from './args.ts';

const OPTIONS = {
  port: { type: 'string' },
  'broker-ca': { type: 'string' },
  socket: { type: 'string' },
  tcp: { type: 'string' },
  follow: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const parse = (argv: string[], env: NodeJS.ProcessEnv, exclusive: string[][] = []) => parseCommandArgs(argv, OPTIONS, false, { env, exclusive });

describe('options from RATCHETD_ variables', () => {
  it('names each option RATCHETD_ + upper case with - as _', () => {
    expect(envVariable('broker-ca')).toBe('RATCHETD_BROKER_CA');
    expect(envVariable('idempotency-retention-days')).toBe('RATCHETD_IDEMPOTENCY_RETENTION_DAYS');
  });

  it('takes a value from the environment when the flag is absent, and the flag when both are given', () => {
    const fromEnv = parse([], { RATCHETD_BROKER_CA: '/etc/ca.pem', RATCHETD_PORT: '1883' });
    expect(fromEnv.values).toMatchObject({ 'broker-ca': '/etc/ca.pem', port: '1883' });
    expect([...fromEnv.fromEnv]).toEqual([
      ['port', 'RATCHETD_PORT'],
      ['broker-ca', 'RATCHETD_BROKER_CA'],
    ]);
    const flagWins = parse(['--port', '8883'], { RATCHETD_PORT: '1883' });
    expect(flagWins.values['port']).toBe('8883');
    expect(flagWins.fromEnv.has('port')).toBe(false);
  });

  it('treats an empty variable as unset and ignores --help and unrelated variables', () => {
    const parsed = parse([], { RATCHETD_PORT: '', RATCHETD_HELP: '1', RATCHETD_FROM_SOURCE: '1', RATCHETD_SOMETHING: 'x' });
    expect(parsed.values['port']).toBeUndefined();
    expect(parsed.values['help']).toBeUndefined();
    expect(parsed.fromEnv.size).toBe(0);
  });

  it.each([['1'], ['true'], ['TRUE'], ['yes'], ['on']])('sets a boolean option with %j', (word) => {
    expect(parse([], { RATCHETD_FOLLOW: word }).values['follow']).toBe(true);
  });

  it.each([['0'], ['false'], ['no'], ['off']])('leaves a boolean option unset with %j', (word) => {
    expect(parse([], { RATCHETD_FOLLOW: word }).values['follow']).toBeUndefined();
  });

  it('refuses another word for a boolean with a usage error naming the variable', () => {
    expect(() => parse([], { RATCHETD_FOLLOW: 'maybe' })).toThrow(UsageError);
    expect(() => parse([], { RATCHETD_FOLLOW: 'maybe' })).toThrow(/^RATCHETD_FOLLOW \(--follow\) must be one of 1, true, yes, on or 0, false, no, off, not "maybe"$/);
  });

  it('ignores a variable for an option that a flag of its exclusive group excludes', () => {
    const parsed = parse(['--tcp', '127.0.0.1:5000'], { RATCHETD_SOCKET: '/run/api.sock' }, [['socket', 'tcp']]);
    expect(parsed.values['socket']).toBeUndefined();
    expect(parsed.values['tcp']).toBe('127.0.0.1:5000');
    // without the flag, both variables apply (and the command reports the conflict)
    expect(parse([], { RATCHETD_SOCKET: '/s', RATCHETD_TCP: '1' }, [['socket', 'tcp']]).values).toMatchObject({ socket: '/s', tcp: '1' });
  });

  it('names the variable in a usage error about an option that came from the environment', async () => {
    const parsed = parse([], { RATCHETD_PORT: 'eighty' });
    const run = () => attributeToEnvironment(parsed, async () => parsePort(stringOption(parsed.values, 'port') ?? '', '--port'));
    await expect(run()).rejects.toThrow(UsageError);
    await expect(run()).rejects.toThrow('RATCHETD_PORT (--port) must be a port number 0-65535, not "eighty"');
    // the same mistake as a flag names the flag only
    const flag = parse(['--port', 'eighty'], { RATCHETD_PORT: 'eighty' });
    await expect(attributeToEnvironment(flag, async () => parsePort(stringOption(flag.values, 'port') ?? '', '--port'))).rejects.toThrow(
      /^--port must be a port number 0-65535, not "eighty"$/,
    );
  });

  it('rewrites only the option itself, not one whose name it begins', async () => {
    const parsed = parse([], { RATCHETD_TCP: '1' });
    await expect(attributeToEnvironment(parsed, () => Promise.reject(new UsageError('--tcp-x is not --tcp')))).rejects.toThrow('--tcp-x is not RATCHETD_TCP (--tcp)');
  });

  it('drops environment values of options a subcommand does not take, never flags', () => {
    const parsed = parse(['--port', '1'], { RATCHETD_FOLLOW: '1', RATCHETD_PORT: '2' });
    expect(withoutEnvironment(parsed, ['follow', 'port'])).toEqual({ port: '1' });
  });

  it('lists every option with its variable in the help section, --help excepted', () => {
    const help = environmentHelp(OPTIONS);
    for (const name of ['port', 'broker-ca', 'socket', 'tcp', 'follow']) expect(help).toMatch(new RegExp(`\\n  ${envVariable(name)} +--${name}\\n`));
    expect(help).not.toContain('RATCHETD_HELP');
  });
});
