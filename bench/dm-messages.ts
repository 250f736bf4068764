/**
 * What the benchmark and its direct-message generators say to each other over IPC.
 *
 * setup -> ready: connect and log in this generator's share of the users.
 * run -> progress*: send at the given rate from `startUs`, warm-up then the measured window.
 * finish -> result: stop and report counters and the latency histogram.
 * close: disconnect and exit.
 */
export type Transport = "websocket" | "polling";

export interface DmSetup {
  type: "setup";
  /** Servers to connect to: user u<i> connects to urls[i % urls.length]. */
  urls: string[];
  transport: Transport;
  /** Users are named `u<i>`; this generator holds u<first> .. u<first + count - 1>. */
  first: number;
  count: number;
  /** Every user of the run, u0 .. u<total - 1>: recipients are drawn from all of them. */
  total: number;
  /** Connections this generator opens at once while connecting. */
  concurrency: number;
  /** Bytes of text in each message (at least the timestamp). */
  messageBytes: number;
}

export interface DmRun {
  type: "run";
  /** Monotonic microseconds (clock.ts) at which sending starts. */
  startUs: number;
  /** The measured window: messages sent in [windowStartUs, windowEndUs) are counted. */
  windowStartUs: number;
  windowEndUs: number;
  /** Messages per second this generator sends. */
  rate: number;
}

export interface DmCounters {
  /** Messages sent inside the measured window. */
  sent: number;
  /** Of those, answered `ok: true`. */
  acked: number;
  /** Of those, received by their recipient. */
  delivered: number;
  /** Messages received (whenever sent) while the window was open: the throughput. */
  receivedInWindow: number;
  /** Negative answers, and `chat error` events. */
  errors: number;
  /** A `new message` that reached a client other than its recipient. */
  misrouted: number;
  /** Connections lost during the run. */
  disconnects: number;
}

/** Counters at zero, to count from or to sum into. */
export function zeroCounters(): DmCounters {
  return {
    sent: 0,
    acked: 0,
    delivered: 0,
    receivedInWindow: 0,
    errors: 0,
    misrouted: 0,
    disconnects: 0,
  };
}

export interface DmReady {
  type: "ready";
  connected: number;
  failed: number;
  failures: Record<string, number>;
}

export interface DmProgress extends DmCounters {
  type: "progress";
  /**
   * This generator has sent every message due in the window, so its `sent` is final. Until then
   * its last report may be up to a report interval old, and comparing a stale `sent` with
   * deliveries would end the drain while its last messages are still on their way.
   */
  windowSent: boolean;
}

export interface DmResultMessage extends DmCounters {
  type: "result";
  clients: number;
  /** HdrHistogram of delivery latency (microseconds), compressed base64. */
  histogram: string;
  /** Event-loop delay over the window, milliseconds. */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  /** CPU used over the window, as a share of one core (1 = 100%). */
  cpuCores: number;
  /** Largest lag of the send schedule seen (ms): how late this generator sent. */
  sendLagMaxMs: number;
}

export type DmCommand = DmSetup | DmRun | { type: "finish" } | { type: "close" };
export type DmReply = DmReady | DmProgress | DmResultMessage;
