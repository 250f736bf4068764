/**
 * Bounds what one connection may have waiting to be sent. A client that stops reading (on
 * purpose, or a dead network) makes the server buffer everything addressed to it: a log-in
 * replay is up to 1000 messages, and repeated it grew a host by a gigabyte in seconds. Past
 * `limit` bytes the connection is cut at once, without waiting for the buffer to drain.
 *
 * Waiting output is Engine.IO's write buffer (packets not yet handed to the transport: a polling
 * client that stopped polling, a WebSocket whose earlier write has not completed) plus the
 * WebSocket's own `bufferedAmount` (bytes the kernel did not take).
 */

/** The parts of an Engine.IO socket this reads; Engine.IO does not export them as types. */
interface EngineConnection {
  readyState: string;
  writeBuffer: { data?: unknown }[];
  transport?: { name?: string; socket?: { bufferedAmount?: number; terminate?: () => void } };
  close(discard?: boolean): void;
}

/** Counted per packet on top of its data: the packet object and its encoding. */
const PACKET_OVERHEAD_BYTES = 64;

/** Running total over a write buffer, so a long buffer is not summed again on every check. */
interface Tally {
  buffer: unknown[];
  packets: number;
  bytes: number;
}

export class UnsentOutputGuard {
  private readonly tallies = new WeakMap<object, Tally>();
  private readonly cut = new WeakSet<object>();

  /**
   * `onCut` is told of each connection cut (for the metric and the log), before it closes.
   */
  constructor(
    private readonly limit: number,
    private readonly onCut: (unsentBytes: number) => void,
  ) {}

  /** Bytes waiting to be sent on a Socket.IO socket's connection. */
  unsentBytes(socket: { conn: unknown }): number {
    const conn = socket.conn as EngineConnection;
    const transportBytes = conn.transport?.socket?.bufferedAmount ?? 0;
    return transportBytes + this.bufferedPackets(conn);
  }

  /** Cuts the connection if it holds more than the limit; true if it did. */
  check(socket: { conn: unknown }): boolean {
    const conn = socket.conn as EngineConnection;
    if (this.cut.has(conn)) return true;
    const unsent = this.unsentBytes(socket);
    if (unsent <= this.limit) return false;
    this.cut.add(conn);
    this.onCut(unsent);
    // Later: this may run inside a loop over the user's sessions, which the close edits.
    setImmediate(() => {
      const ws = conn.transport?.name === "websocket" ? conn.transport.socket : undefined;
      // A WebSocket close handshake would wait for the buffer to drain: drop the TCP connection.
      if (ws?.terminate) ws.terminate();
      else if (conn.readyState !== "closed") conn.close(true);
    });
    return true;
  }

  private bufferedPackets(conn: EngineConnection): number {
    const buffer = conn.writeBuffer;
    if (buffer.length === 0) return 0;
    let tally = this.tallies.get(conn);
    // Engine.IO replaces the array when it flushes; a shorter one was changed in place.
    if (!tally || tally.buffer !== buffer || tally.packets > buffer.length) {
      tally = { buffer, packets: 0, bytes: 0 };
      this.tallies.set(conn, tally);
    }
    for (; tally.packets < buffer.length; tally.packets++) {
      tally.bytes += sizeOf(buffer[tally.packets]?.data) + PACKET_OVERHEAD_BYTES;
    }
    return tally.bytes;
  }
}

function sizeOf(data: unknown): number {
  if (typeof data === "string") return data.length;
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return data.byteLength;
  return 0;
}
