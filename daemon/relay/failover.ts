/**
 * Which relay URL the next connection attempt uses (`--broker URL[,URL...]`: the nodes of one relay
 * cluster). Stay on the URL that last reached CONNACK — a dropped connection is retried there first
 * — and after an attempt that did not reach CONNACK (refused, timed out, certificate rejected, login
 * refused), go on to the next one, round and round. mqtt.js' own `servers` option is not used: it
 * keeps the first server's TLS servername for every other server, and never goes back to a server
 * that worked.
 */
export class RelayFailover {
  private index = 0;
  private started = false;
  private reachedConnack = false;

  constructor(private readonly urls: readonly string[]) {
    if (urls.length === 0) throw new RangeError('no relay URL');
  }

  /** The URL in use, or being tried. */
  get current(): string {
    return this.urls[this.index] as string;
  }

  /** Picks the URL of a new connection attempt. */
  next(): string {
    if (this.started && !this.reachedConnack) this.index = (this.index + 1) % this.urls.length;
    this.started = true;
    this.reachedConnack = false;
    return this.current;
  }

  /** The current attempt reached CONNACK (accepted). */
  connected(): void {
    this.reachedConnack = true;
  }
}
