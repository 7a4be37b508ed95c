/**
 * The relay's Prometheus metrics: prom-client collectors over BrokerStats (broker-stats.ts), read at
 * each scrape, registered on the registry the caller owns (one per process; prom-client's global
 * default registry is never used). Names follow Prometheus conventions: the ratchetd_broker_ prefix,
 * _total for counters, no per-client or per-message labels.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { PUBLISH_OUTCOMES } from './authorize.ts';
import { LOGIN_REFUSAL_REASONS } from './authenticate.ts';
import type { BrokerStats } from './broker-stats.ts';

export function registerBrokerMetrics(registry: Registry, stats: BrokerStats): void {
  const registers = [registry];
  new Gauge({
    name: 'ratchetd_broker_clients',
    help: 'MQTT clients connected to this broker node.',
    registers,
    collect() {
      this.set(stats.connectedClients);
    },
  });
  new Counter({
    name: 'ratchetd_broker_publishes_total',
    help: 'PUBLISH packets by outcome: inbox (an envelope accepted), bundle (a prekey bundle accepted), discarded (acknowledged but dropped: the recipient queue was full), refused (the ACL refused it; the connection was closed).',
    labelNames: ['outcome'],
    registers,
    collect() {
      this.reset();
      for (const outcome of PUBLISH_OUTCOMES) this.inc({ outcome }, stats.publishes[outcome]);
    },
  });
  new Gauge({
    name: 'ratchetd_broker_queued_messages',
    help: 'Messages held for recipients: queued while they are offline, or sent and not yet acknowledged.',
    registers,
    async collect() {
      this.set(await stats.queuedMessages());
    },
  });
  new Counter({
    name: 'ratchetd_broker_messages_expired_total',
    help: 'Queued messages deleted undelivered because they outlived --message-ttl (their senders resend them).',
    registers,
    collect() {
      this.reset();
      this.inc(stats.messagesExpired);
    },
  });
  new Counter({
    name: 'ratchetd_broker_logins_refused_total',
    help: 'Refused CONNECTs by reason: a proof error code (BadSignature, StaleProof, FutureProof, IdentityMismatch, DecodeError, ...), ReplayedProof, TooManyLogins, ConnectionGone or InternalError.',
    labelNames: ['reason'],
    registers,
    collect() {
      this.reset();
      for (const reason of LOGIN_REFUSAL_REASONS) this.inc({ reason }, 0);
      for (const [reason, n] of stats.loginsRefused) this.inc({ reason }, n);
    },
  });
}
