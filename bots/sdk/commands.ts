/**
 * Commands: `/name arg "quoted arg" …` parsed into a name and arguments, a registry of handlers
 * with descriptions, and the /help text built from it.
 */

/** Thrown by a handler when the arguments are wrong: the bot replies with the message (and the
 * command's usage) and acks — a bad command is answered, not retried. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface ParsedCommand {
  /** Lower-case name without the slash, e.g. "set". */
  name: string;
  /** Arguments split on whitespace; "double" or 'single' quotes keep spaces; \ escapes one character. */
  args: string[];
  /** Everything after the name, trimmed, unsplit. */
  argText: string;
}

const COMMAND = /^\/([A-Za-z0-9][A-Za-z0-9_-]{0,31})(?:@\S+)?(?:\s+([\s\S]*))?$/;

/** Parses "/name args…"; undefined when the text is not a command. */
export function parseCommand(text: string): ParsedCommand | undefined {
  const match = COMMAND.exec(text.trim());
  if (match === null) return undefined;
  const argText = (match[2] ?? '').trim();
  return { name: (match[1] ?? '').toLowerCase(), args: splitArgs(argText), argText };
}

/** Shell-like splitting; an unterminated quote runs to the end of the text. */
export function splitArgs(text: string): string[] {
  const args: string[] = [];
  let current = '';
  let inToken = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === '\\' && quote !== "'" && i + 1 < text.length) {
      current += text[++i];
      inToken = true;
    } else if (quote !== undefined) {
      if (c === quote) quote = undefined;
      else current += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inToken = true;
    } else if (/\s/.test(c)) {
      if (inToken) args.push(current);
      current = '';
      inToken = false;
    } else {
      current += c;
      inToken = true;
    }
  }
  if (inToken) args.push(current);
  return args;
}

export interface CommandSpec {
  /** One line shown by /help. */
  description?: string;
  /** Argument synopsis shown by /help and after a UsageError, e.g. "interval <seconds>". */
  usage?: string;
  /** Only contacts whose trust state is "verified" (ListContacts) may run it; others get a refusal. */
  verifiedOnly?: boolean;
}

export interface RegisteredCommand<H> extends CommandSpec {
  name: string;
  handler: H;
}

const NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/;

export class CommandRegistry<H> {
  private readonly commands = new Map<string, RegisteredCommand<H>>();

  add(name: string, spec: CommandSpec, handler: H): void {
    const key = name.replace(/^\//, '').toLowerCase();
    if (!NAME.test(key)) throw new RangeError(`bad command name "${name}" (letters, digits, _ and -, at most 32)`);
    if (this.commands.has(key)) throw new RangeError(`command /${key} is already registered`);
    this.commands.set(key, { ...spec, name: key, handler });
  }

  get(name: string): RegisteredCommand<H> | undefined {
    return this.commands.get(name);
  }

  list(): RegisteredCommand<H>[] {
    return [...this.commands.values()].sort((a, b) => a.name.localeCompare(b.name));
  }
}

export function formatUsage(command: Pick<RegisteredCommand<unknown>, 'name' | 'usage'>): string {
  return command.usage === undefined ? `/${command.name}` : `/${command.name} ${command.usage}`;
}

/** The /help reply: the bot's description, then one line per command. */
export function formatHelp(description: string | undefined, commands: readonly Pick<RegisteredCommand<unknown>, 'name' | 'usage' | 'description' | 'verifiedOnly'>[]): string {
  const lines: string[] = [];
  if (description !== undefined && description !== '') lines.push(description, '');
  lines.push('Commands:');
  for (const command of commands) {
    const restricted = command.verifiedOnly === true ? ' (verified contacts only)' : '';
    const description = command.description === undefined ? '' : ` — ${command.description}`;
    lines.push(`${formatUsage(command)}${description}${restricted}`);
  }
  return lines.join('\n');
}
