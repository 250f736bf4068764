/**
 * Message ids have the shape of Redis stream ids, `<epoch ms>-<sequence>`, in both modes. To
 * clients they are opaque and unique per recipient; the server keeps each inbox in delivery
 * order and answers `since` by position in it.
 */

export interface MessageIdParts {
  ms: number;
  seq: number;
}

const ID_PATTERN = /^(\d{1,15})-(\d{1,15})$/;

export function parseMessageId(id: unknown): MessageIdParts | undefined {
  if (typeof id !== "string") return undefined;
  const match = ID_PATTERN.exec(id);
  if (!match) return undefined;
  return { ms: Number(match[1]), seq: Number(match[2]) };
}

export function formatMessageId(parts: MessageIdParts): string {
  return `${parts.ms}-${parts.seq}`;
}

/** Order of two ids of one generator (or of one Redis stream). */
export function compareMessageIds(a: MessageIdParts, b: MessageIdParts): number {
  return a.ms - b.ms || a.seq - b.seq;
}

/**
 * Hands out increasing ids: the clock's millisecond (or the last one if the clock went back) and
 * a counter. Several generators stay apart by `slot`: generator `slot` of `slots` only uses
 * sequence numbers that leave remainder `slot`, so workers need not coordinate.
 */
export class MessageIdGenerator {
  private ms = 0;
  private counter = 0;

  constructor(
    private readonly slot = 0,
    private readonly slots = 1,
  ) {}

  next(now = Date.now()): string {
    if (now > this.ms) {
      this.ms = now;
      this.counter = 0;
    } else {
      this.counter++;
    }
    return formatMessageId({ ms: this.ms, seq: this.counter * this.slots + this.slot });
  }
}
