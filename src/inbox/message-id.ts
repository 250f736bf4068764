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

/** Order of two ids of one store (or of one Redis stream). */
export function compareMessageIds(a: MessageIdParts, b: MessageIdParts): number {
  return a.ms - b.ms || a.seq - b.seq;
}
