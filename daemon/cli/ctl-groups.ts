/**
 * `ratchetd ctl group create NAME USER...`, `group add GROUP USER...`, `group remove GROUP USER...`,
 * `group leave GROUP`, `group rotate GROUP` and `ctl groups`: each prints one JSON line (the Group,
 * camelCase; `{}` for leave; `{groupId, keyId}` for rotate; `{groups: [...]}` for groups).
 */
import type { MessengerClient } from '../api/client.ts';
import { UsageError } from './args.ts';
import { groupJson, printJson } from './ctl-output.ts';

export const GROUP_USAGE = 'group create NAME [USER...] | group add GROUP USER... | group remove GROUP USER... | group leave GROUP | group rotate GROUP';

/** Checks a `group` command's words before anything is called. */
export function checkGroupArguments(args: readonly string[]): void {
  const [sub, target, ...users] = args;
  const ok =
    (sub === 'create' && target !== undefined) ||
    ((sub === 'add' || sub === 'remove') && target !== undefined && users.length > 0) ||
    ((sub === 'leave' || sub === 'rotate') && target !== undefined && users.length === 0);
  if (!ok) throw new UsageError(`usage: ratchetd ctl ${GROUP_USAGE}`);
}

export async function runGroupCommand(client: MessengerClient, args: readonly string[]): Promise<void> {
  const [sub, target = '', ...users] = args;
  switch (sub) {
    case 'create':
      return printJson(groupJson(await client.createGroup(target, users)));
    case 'add':
      return printJson(groupJson(await client.addMembers(target, users)));
    case 'remove':
      return printJson(groupJson(await client.removeMembers(target, users)));
    case 'leave':
      await client.leaveGroup(target);
      return printJson({});
    case 'rotate':
      return printJson({ groupId: target, keyId: (await client.rotateGroupKey(target)).keyId });
    default:
      throw new UsageError(`usage: ratchetd ctl ${GROUP_USAGE}`);
  }
}

export async function listGroups(client: MessengerClient): Promise<void> {
  printJson({ groups: (await client.listGroups()).map(groupJson) });
}
