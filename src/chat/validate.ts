/**
 * Checks what clients send, field by field, and says which error code each mistake gets.
 * Payloads are untrusted: any type, any shape, keys such as `__proto__`.
 */
import { parseMessageId } from "../inbox/message-id.js";
import { ErrorCode, isValidUsername } from "../protocol.js";

export type Checked<T> = { ok: true; value: T } | { ok: false; code: ErrorCode; message?: string };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Reads an own property only, so `__proto__` and friends in a payload are plain data. */
function field(record: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

export interface LogInRequest {
  username: string;
  token: string | undefined;
  since: string | undefined;
}

export function checkLogIn(payload: unknown): Checked<LogInRequest> {
  if (!isRecord(payload)) return { ok: false, code: ErrorCode.InvalidUsername };
  const username = field(payload, "username");
  if (!isValidUsername(username)) return { ok: false, code: ErrorCode.InvalidUsername };
  const token = field(payload, "token");
  if (token !== undefined && token !== null && typeof token !== "string") {
    return { ok: false, code: ErrorCode.Unauthorized };
  }
  const since = field(payload, "since");
  if (since !== undefined && since !== null && parseMessageId(since) === undefined) {
    return {
      ok: false,
      code: ErrorCode.InvalidPayload,
      message: "`since` must be a message id the server sent",
    };
  }
  return {
    ok: true,
    value: { username, token: token ?? undefined, since: (since as string | null) ?? undefined },
  };
}

export interface SendRequest {
  to: string;
  text: string;
}

export function checkSend(payload: unknown, maxMessageBytes: number): Checked<SendRequest> {
  if (!isRecord(payload)) {
    return { ok: false, code: ErrorCode.InvalidPayload, message: "Send { username, message }" };
  }
  const to = field(payload, "username");
  if (!isValidUsername(to)) return { ok: false, code: ErrorCode.InvalidUsername };
  const text = field(payload, "message");
  if (typeof text !== "string" || text.length === 0) {
    return { ok: false, code: ErrorCode.InvalidPayload };
  }
  // UTF-8 takes at most 3 bytes per UTF-16 unit: count bytes only when it could matter.
  if (text.length * 3 > maxMessageBytes && Buffer.byteLength(text, "utf8") > maxMessageBytes) {
    return tooLarge(maxMessageBytes);
  }
  return { ok: true, value: { to, text } };
}

function tooLarge(maxMessageBytes: number): Checked<never> {
  return {
    ok: false,
    code: ErrorCode.MessageTooLarge,
    message: `The message is larger than ${maxMessageBytes} bytes (UTF-8)`,
  };
}

/** `watch` / `unwatch`: 1 to `maxPerCall` valid usernames; duplicates count once. */
export function checkWatch(payload: unknown, maxPerCall: number): Checked<string[]> {
  const usernames = isRecord(payload) ? field(payload, "usernames") : undefined;
  if (!Array.isArray(usernames) || usernames.length === 0) {
    return {
      ok: false,
      code: ErrorCode.InvalidPayload,
      message: "Send { usernames: [...] } with at least one name",
    };
  }
  if (usernames.length > maxPerCall) {
    return {
      ok: false,
      code: ErrorCode.InvalidPayload,
      message: `At most ${maxPerCall} names per call`,
    };
  }
  if (!usernames.every(isValidUsername)) return { ok: false, code: ErrorCode.InvalidUsername };
  return { ok: true, value: [...new Set(usernames)] };
}

/** `typing`: `{ username }`, the user being typed to. */
export function checkTyping(payload: unknown): Checked<string> {
  if (!isRecord(payload)) {
    return { ok: false, code: ErrorCode.InvalidPayload, message: "Send { username }" };
  }
  const to = field(payload, "username");
  if (!isValidUsername(to)) return { ok: false, code: ErrorCode.InvalidUsername };
  return { ok: true, value: to };
}
