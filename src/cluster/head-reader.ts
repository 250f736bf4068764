/**
 * Reads a new connection's HTTP request head before anything else touches the connection, for
 * whichever process accepted it (the primary's balancer, or a worker accepting on its own), so
 * the connection can be routed to the worker of its session. The bounds are the same in both:
 * a fixed deadline from accept, a size cap, and a per-address count of heads still being sent.
 */
import type { Socket } from "node:net";
import type { AddressLimiter } from "./address-limiter.js";
import { findHeadEnd } from "./request-head.js";

const MAX_HEAD_BYTES = 16 * 1024;

/** The `limit` label of `chat_limit_hits_total` for a connection refused before routing. */
export type ConnectionLimit =
  | "connections_per_ip"
  | "request_head_timeout"
  | "request_head_too_large"
  | "handoff_backlog";

export interface HeadReaderOptions {
  /** Counts heads in progress per address (`openHead`/`closeHead`). */
  limiter: AddressLimiter;
  /** Time from accept to a complete request head; then 408 and close (not reset by bytes). */
  headTimeoutMs: number;
  onLimit: (limit: ConnectionLimit) => void;
}

/**
 * Calls `onHead` with the bytes read so far once they hold a whole request head, or answers
 * 429/408/431 and closes. Reading stops before `onHead`: the rest stays in the socket.
 */
export function readRequestHead(
  socket: Socket,
  options: HeadReaderOptions,
  onHead: (head: Buffer) => void,
): void {
  socket.on("error", () => socket.destroy());
  const { limiter, onLimit } = options;
  const address = socket.remoteAddress ?? "";
  // Counted from accept: connections still sending their head are limited per address too.
  if (!limiter.openHead(address)) {
    onLimit("connections_per_ip");
    refuse(socket, "429 Too Many Requests");
    return;
  }
  let reading = true;
  const stopReading = () => {
    if (!reading) return;
    reading = false;
    clearTimeout(deadline);
    socket.removeListener("data", onData);
    // A worker keeps the socket for the whole session: nothing of the head may stay attached.
    socket.removeListener("close", stopReading);
    chunks.length = 0;
    limiter.closeHead(address);
  };
  socket.once("close", stopReading);
  // A fixed deadline from accept: a byte now and then does not extend it.
  const deadline = setTimeout(() => {
    stopReading();
    onLimit("request_head_timeout");
    refuse(socket, "408 Request Timeout");
  }, options.headTimeoutMs);
  const chunks: Buffer[] = [];
  let size = 0;
  const onData = (chunk: Buffer) => {
    chunks.push(chunk);
    size += chunk.length;
    const head = chunks.length === 1 ? chunk : Buffer.concat(chunks, size);
    if (findHeadEnd(head) === -1) {
      if (size > MAX_HEAD_BYTES) {
        stopReading();
        onLimit("request_head_too_large");
        refuse(socket, "431 Request Header Fields Too Large");
      }
      return;
    }
    stopReading();
    onHead(head);
  };
  socket.on("data", onData);
}

/**
 * Stops reading so that whatever the client sends next stays in the kernel for the process the
 * socket is passed to; returns the head plus anything already read past it.
 */
export function detachForHandOff(socket: Socket, head: Buffer): Buffer {
  socket.pause();
  (socket as unknown as { _handle?: { readStop?: () => void } })._handle?.readStop?.();
  const buffered = socket.read() as Buffer | null;
  return buffered ? Buffer.concat([head, buffered]) : head;
}

/** Answers a bare HTTP status (and a short text) and closes once written, whatever comes next. */
export function refuse(socket: Socket, status: string, text = ""): void {
  socket.pause();
  const body = text ? `Content-Type: text/plain; charset=utf-8\r\n` : "";
  socket.write(
    `HTTP/1.1 ${status}\r\nConnection: close\r\n${body}Content-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`,
  );
  socket.destroySoon();
}
