/**
 * The terminal client's outgoing queue. Messages go out one at a time, in the order they were
 * written, and only while the connection is logged in, so the server never sees a message
 * before `log in` and one sender's messages never overtake each other.
 *
 * A message leaves the queue when the server answers it. Without an answer (the connection
 * dropped, or the answer timed out) it is sent again once logged in again: nothing is lost,
 * and in the rare case the server had kept it before the answer was lost, the recipient sees
 * it twice. `RATE_LIMITED` and `UNAVAILABLE` are retried after a pause; other errors are final.
 */
import {
  type ChatErrorBody,
  type DeliveryStatus,
  ErrorCode,
  type SendMessageAnswer,
  type SendMessagePayload,
} from "../protocol.js";

export interface OutgoingMessage {
  recipient: string;
  text: string;
}

export type SendOutcome =
  | { kind: "sent"; message: OutgoingMessage; id: string; status: DeliveryStatus }
  | { kind: "failed"; message: OutgoingMessage; error: ChatErrorBody };

export interface OutboxOptions {
  /** Emits `send message` and resolves with the answer; rejects when no answer came. */
  send: (payload: SendMessagePayload) => Promise<SendMessageAnswer>;
  /** Told once per message: sent (with its id and status) or failed for good. */
  onOutcome: (outcome: SendOutcome) => void;
  /** The server said NOT_LOGGED_IN: log in again, then call `resume()`. */
  onNotLoggedIn?: () => void;
  /** Pause before retrying after RATE_LIMITED / UNAVAILABLE / no answer. Default: 250 ms doubling to 5 s. */
  retryDelayMs?: (attempt: number) => number;
  /** How many times an UNAVAILABLE answer is retried before the message fails. Default 5. */
  maxUnavailableRetries?: number;
}

interface Item {
  message: OutgoingMessage;
  attempts: number;
  unavailable: number;
}

const defaultDelay = (attempt: number) => Math.min(5000, 250 * 2 ** Math.max(0, attempt - 1));

export class Outbox {
  private readonly queue: Item[] = [];
  private open = false;
  private busy = false;
  private generation = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly options: OutboxOptions) {}

  /** Messages not yet answered, including the one in flight. */
  get size(): number {
    return this.queue.length;
  }

  enqueue(message: OutgoingMessage): void {
    this.queue.push({ message, attempts: 0, unavailable: 0 });
    this.pump();
  }

  /** Logged in: start (or go on) sending. */
  resume(): void {
    this.open = true;
    this.pump();
  }

  /** Connection lost: stop; the message in flight, if any, is sent again after `resume()`. */
  pause(): void {
    this.open = false;
    this.busy = false;
    this.generation++;
    this.clearRetry();
  }

  /** Stops for good and forgets timers (the queue is kept for inspection). */
  close(): void {
    this.pause();
  }

  private clearRetry(): void {
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  private pump(): void {
    if (!this.open || this.busy || this.retryTimer !== undefined) return;
    const item = this.queue[0];
    if (item === undefined) return;
    this.busy = true;
    item.attempts++;
    const generation = this.generation;
    const payload = { username: item.message.recipient, message: item.message.text };
    this.options.send(payload).then(
      (answer) => this.answered(generation, item, answer),
      () => this.answered(generation, item, undefined),
    );
  }

  private answered(generation: number, item: Item, answer: SendMessageAnswer | undefined): void {
    if (generation !== this.generation) return; // paused meanwhile: resent after resume()
    this.busy = false;
    const next = this.decide(item, answer);
    if (next === "retry") {
      this.retryLater(item);
    } else if (next === "log in again") {
      this.open = false;
      this.options.onNotLoggedIn?.();
    } else {
      this.queue.shift();
      this.options.onOutcome(next);
      this.pump();
    }
  }

  private decide(
    item: Item,
    answer: SendMessageAnswer | undefined,
  ): SendOutcome | "retry" | "log in again" {
    if (answer === undefined) return "retry";
    const { message } = item;
    if (answer.ok) return { kind: "sent", message, id: answer.id, status: answer.status };
    switch (answer.error.code) {
      case ErrorCode.RateLimited:
        return "retry";
      case ErrorCode.Unavailable:
        if (item.unavailable++ < (this.options.maxUnavailableRetries ?? 5)) return "retry";
        break;
      case ErrorCode.NotLoggedIn:
        return "log in again";
    }
    return { kind: "failed", message, error: answer.error };
  }

  private retryLater(item: Item): void {
    const delay = (this.options.retryDelayMs ?? defaultDelay)(item.attempts);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.pump();
    }, delay);
  }
}
