/**
 * Just enough HTTP parsing to route a connection: the request line and the
 * `sid` query parameter. Everything else is left to the worker's real HTTP parser.
 */

export interface RequestHead {
  method: string;
  /** Path without the query string. */
  path: string;
  /** Engine.IO session id from the query string, if any. */
  sid: string | undefined;
}

const HEAD_END = Buffer.from("\r\n\r\n");

/** Index just past the blank line that ends the head, or -1 while incomplete. */
export function findHeadEnd(buffer: Buffer): number {
  const index = buffer.indexOf(HEAD_END);
  return index === -1 ? -1 : index + HEAD_END.length;
}

export function parseRequestHead(buffer: Buffer): RequestHead | undefined {
  const lineEnd = buffer.indexOf("\r\n");
  const line = buffer.toString("latin1", 0, lineEnd === -1 ? buffer.length : lineEnd);
  const match = /^([A-Z]{1,16}) (\S+) HTTP\/1\.[01]$/.exec(line);
  if (!match?.[1] || !match[2]) return undefined;
  const target = match[2];
  const queryStart = target.indexOf("?");
  const path = queryStart === -1 ? target : target.slice(0, queryStart);
  let sid: string | undefined;
  if (queryStart !== -1) {
    const sidMatch = /(?:^|&)sid=([A-Za-z0-9._-]{1,64})(?:&|$)/.exec(target.slice(queryStart + 1));
    sid = sidMatch?.[1];
  }
  return { method: match[1], path, sid };
}

/** Paths the primary answers itself: they describe the whole host, not one worker. */
const PRIMARY_PATHS = new Set(["/healthz", "/readyz", "/metrics"]);

export function isPrimaryPath(path: string): boolean {
  return PRIMARY_PATHS.has(path);
}

/** A Socket.IO request without a session: a handshake, which starts a new session. */
export function isNewSession(request: RequestHead | undefined): boolean {
  return (
    request !== undefined && request.sid === undefined && request.path.startsWith("/socket.io/")
  );
}
