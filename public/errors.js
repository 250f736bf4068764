// Error codes from the server, in words a person understands.

/** Each error code in words a person understands. */
export const ERROR_WORDS = {
  INVALID_USERNAME:
    "That is not a valid name. Use 1 to 32 letters, digits, dots, dashes or underscores.",
  UNAUTHORIZED: "This server needs a valid token for that name. Paste your token and try again.",
  NOT_LOGGED_IN: "You were logged out by the server. Logging in again…",
  INVALID_PAYLOAD: "The server could not read that message.",
  MESSAGE_TOO_LARGE: "That message is too long for this server. Shorten it or split it up.",
  RATE_LIMITED: "You are sending messages too fast. The rest will go out in a moment.",
  UNAVAILABLE: "The server cannot store messages right now. Trying again shortly…",
  ALREADY_LOGGED_IN: "This connection is already logged in under another name. Reload the page.",
  UNKNOWN_EVENT: "The server did not understand a request from this page. Reload the page.",
};

export function errorWords(error) {
  return ERROR_WORDS[error?.code] ?? error?.message ?? "Something went wrong. Please try again.";
}

/** Why a message was not sent, short enough to sit under it. */
export const FAILED_WORDS = {
  INVALID_USERNAME: "Not sent: that is not a valid name",
  INVALID_PAYLOAD: "Not sent: the server could not read it",
  MESSAGE_TOO_LARGE: "Not sent: too long for this server",
  UNAVAILABLE: "Not sent: the server could not store it. Send it again later",
  UNAUTHORIZED: "Not sent: not allowed",
};
