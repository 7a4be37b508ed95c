import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CommandRegistry, formatHelp, formatUsage, parseCommand, splitArgs } from './commands.ts';

describe('parseCommand', () => {
  it('splits a command into a lower-case name and arguments', () => {
    expect(parseCommand('/Set interval 30')).toEqual({ name: 'set', args: ['interval', '30'], argText: 'interval 30' });
  });

  it('accepts a bare command, surrounding spaces and a @bot suffix', () => {
    expect(parseCommand('  /help  ')).toEqual({ name: 'help', args: [], argText: '' });
    expect(parseCommand('/status@iot-7 now')).toEqual({ name: 'status', args: ['now'], argText: 'now' });
  });

  it('keeps newlines inside the argument text', () => {
    expect(parseCommand('/note first line\nsecond')?.argText).toBe('first line\nsecond');
  });

  it.each(['hello', '', '/', '/ help', '//x', '/x!y', 'a /help', `/${'a'.repeat(33)}`])('is not a command: %j', (text) => {
    expect(parseCommand(text)).toBeUndefined();
  });
});

describe('splitArgs', () => {
  it('honours double quotes, single quotes and backslash escapes', () => {
    expect(splitArgs(`say "hello world" 'it''s' a\\ b "x\\"y" ''`)).toEqual(['say', 'hello world', 'its', 'a b', 'x"y', '']);
  });

  it('keeps backslashes literal inside single quotes', () => {
    expect(splitArgs(`'a\\b'`)).toEqual(['a\\b']);
  });

  it('runs an unterminated quote to the end', () => {
    expect(splitArgs('one "two three')).toEqual(['one', 'two three']);
  });

  it('round-trips any list of arguments quoted with double quotes (seed 42)', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 12 }), { maxLength: 6 }), (args) => {
        const quoted = args.map((a) => `"${a.replace(/["\\]/g, (c) => `\\${c}`)}"`).join(' ');
        expect(splitArgs(quoted)).toEqual(args);
      }),
      { seed: 42, numRuns: 300 },
    );
  });
});

describe('CommandRegistry and help', () => {
  it('normalises names, refuses duplicates and bad names', () => {
    const registry = new CommandRegistry<() => void>();
    registry.add('/Ping', {}, () => undefined);
    expect(registry.get('ping')?.name).toBe('ping');
    expect(() => registry.add('ping', {}, () => undefined)).toThrow(/already registered/);
    expect(() => registry.add('two words', {}, () => undefined)).toThrow(/bad command name/);
  });

  it('formats usage and help with restrictions marked', () => {
    expect(formatUsage({ name: 'set', usage: 'interval <seconds>' })).toBe('/set interval <seconds>');
    const help = formatHelp('A test bot.', [
      { name: 'help', description: 'this list' },
      { name: 'set', usage: '<k> <v>', description: 'change a setting', verifiedOnly: true },
    ]);
    expect(help).toBe('A test bot.\n\nCommands:\n/help — this list\n/set <k> <v> — change a setting (verified contacts only)');
  });
});
