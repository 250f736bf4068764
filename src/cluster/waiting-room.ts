/**
 * New sessions that no worker can take yet wait here, not read, for their turn: while no worker
 * is ready (at start, or after every worker crashed; replacements are usually ready within a
 * second), or while every worker's hand-off queue is full (a reconnect storm). A 503 instead
 * would send each client into its reconnection back-off. Bounded in number and in time; past
 * either, the balancer answers 503.
 */
import type { Socket } from "node:net";

export const MAX_WAITING = 4096;
export const MAX_WAIT_MS = 10_000;

interface Waiting {
  head: Buffer;
  timer: NodeJS.Timeout;
  onClose: () => void;
}

export class WaitingRoom {
  private readonly waiting = new Map<Socket, Waiting>();

  /** `onTimeout` gets a connection that waited `MAX_WAIT_MS` in vain. */
  constructor(private readonly onTimeout: (socket: Socket, head: Buffer) => void) {}

  get size(): number {
    return this.waiting.size;
  }

  /** Lets a connection wait; false (and nothing done) when the room is full. */
  enter(socket: Socket, head: Buffer): boolean {
    if (this.waiting.size >= MAX_WAITING) return false;
    socket.pause();
    const onClose = () => this.leave(socket);
    const timer = setTimeout(() => {
      this.leave(socket);
      this.onTimeout(socket, head);
    }, MAX_WAIT_MS);
    socket.once("close", onClose);
    this.waiting.set(socket, { head, timer, onClose });
    return true;
  }

  /** The connection that has waited longest, out of the room; undefined when it is empty. */
  next(): [Socket, Buffer] | undefined {
    const first = this.waiting.entries().next();
    if (first.done) return undefined;
    const [socket, { head }] = first.value;
    this.leave(socket);
    return [socket, head];
  }

  private leave(socket: Socket): void {
    const entry = this.waiting.get(socket);
    if (!entry) return;
    clearTimeout(entry.timer);
    socket.removeListener("close", entry.onClose);
    this.waiting.delete(socket);
  }
}
