/**
 * Server error codes in words a person understands. The server's own `message` is kept as a
 * detail where it adds something (for example the size limit).
 */
import { type ChatErrorBody, ErrorCode } from "../protocol.js";

const WORDS: Record<ErrorCode, string> = {
  [ErrorCode.InvalidUsername]: "that is not a valid username (1-32 of A-Z a-z 0-9 _ . -)",
  [ErrorCode.Unauthorized]: "the server did not accept the token for this username",
  [ErrorCode.NotLoggedIn]: "not logged in yet",
  [ErrorCode.InvalidPayload]: "the server could not read that message",
  [ErrorCode.MessageTooLarge]: "the message is too long for this server",
  [ErrorCode.RateLimited]: "sending too fast; slow down",
  [ErrorCode.Unavailable]: "the server cannot store messages right now; try again shortly",
  [ErrorCode.AlreadyLoggedIn]: "this connection is already logged in as someone else",
  [ErrorCode.UnknownEvent]: "the server does not know that request",
};

export function describeError(error: ChatErrorBody): string {
  const words = (WORDS as Record<string, string | undefined>)[error.code];
  if (words === undefined) return `${error.message || "unknown error"} (${error.code})`;
  return `${words} (${error.code})`;
}
