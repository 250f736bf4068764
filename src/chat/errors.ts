/**
 * The text a client gets with each error code. Fixed sentences only: no internal detail, no stack.
 */
import { ErrorCode as Code, type ErrorCode, type Failure } from "../protocol.js";

const MESSAGES: Record<ErrorCode, string> = {
  [Code.InvalidUsername]: "A username is 1-32 characters of A-Z a-z 0-9 _ . -",
  [Code.Unauthorized]: "A valid token for this username is required",
  [Code.NotLoggedIn]: "Log in first",
  [Code.InvalidPayload]: "The message must be a non-empty string",
  [Code.MessageTooLarge]: "The message is too large",
  [Code.RateLimited]: "Too many requests; slow down",
  [Code.Unavailable]: "Message storage is unreachable; try again shortly",
  [Code.AlreadyLoggedIn]: "This connection is logged in as another user; log out first",
  [Code.UnknownEvent]: "Unknown event",
};

export function failure(code: ErrorCode, message = MESSAGES[code]): Failure {
  return { ok: false, error: { code, message } };
}
