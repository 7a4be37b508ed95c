/**
 * How the webhook and API clients share one inbox. With a webhook configured the webhook owns the
 * acks: it acks each message after its 2xx (webhook-delivery.ts). API clients — gRPC Receive
 * streams, GET /v1/messages, GET /v1/events, the bots SDK, `ctl receive --peek` — still see every
 * unacked message (and live events), but their Ack is refused with FAILED_PRECONDITION
 * (AckOwnedByWebhook; HTTP 412): a message acked by a client the webhook has not delivered yet
 * would be lost to the webhook. This wraps the engine's DaemonApi for both API servers: Ack
 * refused, a re-drive handed on to the webhook, and `webhookPending` in the status.
 */
import type { DaemonApi } from '../engine/types.ts';
import { HttpError } from './errors.ts';
import type { WebhookDelivery } from './webhook-delivery.ts';

export function webhookOwnedApi(api: DaemonApi, delivery: WebhookDelivery): DaemonApi {
  return {
    getIdentity: () => api.getIdentity(),
    send: (req) => api.send(req),
    subscribe: (afterCursor, onEvent, options) => api.subscribe(afterCursor, onEvent, options),
    ack: () =>
      Promise.reject(
        new HttpError('AckOwnedByWebhook', 'this daemon delivers messages to its webhook, which acks them; API clients may read messages but not ack them'),
      ),
    listContacts: () => api.listContacts(),
    verifyContact: (userId, safetyNumber) => api.verifyContact(userId, safetyNumber),
    async getStatus() {
      const s = await api.getStatus();
      // Every unacked message that is not a dead letter is the webhook's to deliver.
      return { ...s, webhookPending: Math.max(0, s.inboxDepth - s.deadLetters) };
    },
    listDeadLetters: (limit) => api.listDeadLetters(limit),
    async redriveDeadLetters(messageIds) {
      const cleared = await api.redriveDeadLetters(messageIds);
      delivery.redriven(cleared);
      return cleared;
    },
    addDeadLetter: (message, info) => api.addDeadLetter(message, info),
    createGroup: (name, members) => api.createGroup(name, members),
    addMembers: (groupId, members) => api.addMembers(groupId, members),
    removeMembers: (groupId, members) => api.removeMembers(groupId, members),
    leaveGroup: (groupId) => api.leaveGroup(groupId),
    rotateGroupKey: (groupId) => api.rotateGroupKey(groupId),
    listGroups: () => api.listGroups(),
    // Files pass through as they are (a webhook does not change how files are sent or read).
    ...(api.sendFile === undefined ? {} : { sendFile: api.sendFile.bind(api) }),
    ...(api.downloadAttachment === undefined ? {} : { downloadAttachment: api.downloadAttachment.bind(api) }),
  };
}
