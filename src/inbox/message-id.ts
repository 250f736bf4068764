/**
 * Message ids have the shape of Redis stream ids, `<epoch ms>-<sequence>`, in both modes: they
 * are unique per recipient, ordered by the server, and stay ordered across restarts.
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

export function compareMessageIds(a: MessageIdParts, b: MessageIdParts): number {
  return a.ms - b.ms || a.seq - b.seq;
}

/** Hands out increasing ids: the clock's millisecond, or the last one if the clock went back. */
export class MessageIdGenerator {
  private last: MessageIdParts = { ms: 0, seq: 0 };

  next(now = Date.now()): string {
    this.last =
      now > this.last.ms ? { ms: now, seq: 0 } : { ms: this.last.ms, seq: this.last.seq + 1 };
    return formatMessageId(this.last);
  }
}
