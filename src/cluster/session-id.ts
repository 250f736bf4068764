/**
 * Engine.IO session ids that name the worker holding the session: `<worker id base36>.<random>`.
 * The primary routes a long-polling request by reading the worker out of its `sid`, so it keeps
 * no session table and the workers report nothing per connection.
 */
import { randomBytes } from "node:crypto";

export function createSessionId(workerId: number): string {
  return `${workerId.toString(36)}.${randomBytes(15).toString("base64url")}`;
}

/** The worker id in a session id, or undefined for anything that is not one of ours. */
export function workerIdOfSession(sid: string): number | undefined {
  const dot = sid.indexOf(".");
  if (dot < 1 || dot > 8) return undefined;
  const id = Number.parseInt(sid.slice(0, dot), 36);
  return Number.isSafeInteger(id) && id > 0 ? id : undefined;
}
