/**
 * What the chat service reports as it works; the worker plugs in Prometheus counters.
 */
export interface ChatMetrics {
  received(): void;
  /** A message reached `sessions` local sockets, `latencySeconds` after it was accepted. */
  delivered(sessions: number, latencySeconds: number): void;
  stored(): void;
  error(code: string): void;
  rateLimited(): void;
  /** A connection or account ran into one of the bounds of `chat-limits.ts`. */
  limitHit(limit: string): void;
  /** A presence change reached `sockets` watching connections here. */
  presence(sockets: number): void;
  /** A presence change reached this worker although no connection here watches the user. */
  presenceUnwatched(): void;
}

export const NO_METRICS: ChatMetrics = {
  received() {},
  delivered() {},
  stored() {},
  error() {},
  rateLimited() {},
  limitHit() {},
  presence() {},
  presenceUnwatched() {},
};
