/**
 * The bot's typed events and a tiny listener registry. Unlike node:events, listeners may be async
 * and the caller can await them (the bot awaits "message" listeners before acking), and a listener
 * that throws never crashes the process: the error goes back to the caller.
 */
import type { DeliveryState, GroupInfo, InboundMessage } from '../../daemon/api/backend.ts';
import type { MessageContext } from './context.ts';

/** What a message or command handler returns: a (non-empty) string is sent as the reply; anything
 * else (e.g. the result of ctx.reply) is ignored. */
export type HandlerResult = unknown;
export type MessageHandler = (ctx: MessageContext) => HandlerResult;

export interface DeliveryUpdate {
  messageId: string;
  to: string;
  state: DeliveryState;
  at: number;
}

export interface IdentityChange {
  userId: string;
  newIdentityKey: Uint8Array;
  at: number;
}

export interface BotEvents {
  /** A message that no waiter or command took. The bot acks it once every listener resolved. */
  message: MessageHandler;
  /** Delivery progress of a message this daemon sent. */
  delivery: (update: DeliveryUpdate) => void;
  /** A contact's identity key changed; messages to and from it are blocked until approved. */
  identityChanged: (change: IdentityChange) => void;
  /** A group this bot's daemon is (or was: removed) a member of changed. */
  groupChanged: (change: { group: GroupInfo; removed: boolean }) => void;
  /** The Receive stream is open and the replay of stored messages is complete. */
  connected: () => void;
  /** The Receive stream failed; the bot reconnects after `retryInMs`. */
  disconnected: (info: { error: Error; retryInMs: number }) => void;
  /** A handler threw: the message stays unacked and is handled again after `retryInMs`. */
  handlerError: (info: { error: unknown; message: InboundMessage; attempt: number; retryInMs: number }) => void;
  /** stop() was called: stop producing work (timers, outgoing messages); handlers still finish. */
  stopping: () => void;
  /** The daemon confirmed the ack of a message (it will never be offered again). */
  acked: (messageId: string) => void;
}

export type BotEventName = keyof BotEvents;

type AnyListener = (...args: never[]) => unknown;

export class Listeners<E extends { [K in keyof E]: AnyListener }> {
  private readonly byName = new Map<keyof E, Set<AnyListener>>();

  add<K extends keyof E>(name: K, listener: E[K]): () => void {
    let set = this.byName.get(name);
    if (set === undefined) this.byName.set(name, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }

  count(name: keyof E): number {
    return this.byName.get(name)?.size ?? 0;
  }

  list<K extends keyof E>(name: K): E[K][] {
    return [...(this.byName.get(name) ?? [])] as E[K][];
  }

  /** Calls every listener of a notification event; returns the errors thrown (sync or async). */
  async emit<K extends keyof E>(name: K, ...args: Parameters<E[K]>): Promise<unknown[]> {
    const errors: unknown[] = [];
    for (const listener of this.list(name)) {
      try {
        await (listener as (...a: Parameters<E[K]>) => unknown)(...args);
      } catch (e) {
        errors.push(e);
      }
    }
    return errors;
  }
}
