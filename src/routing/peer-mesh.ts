/**
 * Direct channels between the workers of one host, for live hand-offs (messages already stored,
 * presence changes, typing hints): one hop, never through the primary. Each worker listens on
 * `<directory>/<worker id>.sock`; a worker connects to a peer the first time it has something for
 * it, and again after the channel was lost. Frames are newline-delimited JSON, one write per peer
 * per event-loop turn.
 *
 * Back-pressure: a peer that does not read its channel (more than `maxBufferedBytes` waiting) is
 * cut off instead of growing this worker's memory. Nothing is lost by that: messages are stored
 * before they are handed off, and a worker that accepts a (new) channel from a peer reads from
 * the store whatever its users may have missed.
 */
import { rmSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import type { Logger } from "pino";
import { listen } from "../listen.js";
import type { NewMessage } from "../protocol.js";
import type { Id } from "../store/inbox-records.js";
import { TurnBatcher } from "./turn-batcher.js";

export type PeerFrame =
  /** A stored message for `user`'s sessions: user, previous id in that inbox, message, sender session. */
  | ["m", string, Id | null, NewMessage, string | null]
  /** A watched user's first session appeared (1) or last one left (0). */
  | ["p", string, 0 | 1]
  /** A typing hint: from, to. */
  | ["t", string, string];

export const DEFAULT_PEER_BUFFER_BYTES = 8 * 1024 * 1024;
/** A peer that could not be reached is not tried again sooner than this. */
const RECONNECT_DELAY_MS = 100;

interface Peer {
  socket: net.Socket;
  outbox: TurnBatcher<PeerFrame>;
}

export interface PeerMeshEvents {
  /** Frames a peer sent. */
  frames(frames: PeerFrame[]): void;
  /** A peer opened a channel to this worker: hand-offs may have been missed before it. */
  peerConnected(): void;
}

export class PeerMesh {
  private readonly peers = new Map<number, Peer>();
  private readonly failedAt = new Map<number, number>();
  private readonly server: net.Server;
  readonly socketPath: string;
  /** Channels cut off because their peer did not read (a metric). */
  overflows = 0;

  constructor(
    selfId: number,
    private readonly directory: string,
    private readonly events: PeerMeshEvents,
    private readonly logger: Logger,
    private readonly maxBufferedBytes = DEFAULT_PEER_BUFFER_BYTES,
  ) {
    this.socketPath = this.pathOf(selfId);
    this.server = net.createServer((socket) => this.accept(socket));
    this.server.on("error", (error) => logger.error({ err: error }, "peer socket failed"));
  }

  async listen(): Promise<void> {
    rmSync(this.socketPath, { force: true });
    // `exclusive`: in a cluster worker, node:cluster would otherwise have the primary create
    // the socket and accept every peer's connection to hand it over, so a busy or stopped
    // primary would hold up the channels between workers.
    await listen(this.server, { path: this.socketPath, exclusive: true });
  }

  send(workerId: number, frame: PeerFrame): void {
    const peer = this.peers.get(workerId) ?? this.connect(workerId);
    peer?.outbox.push(frame);
  }

  /** Forgets a worker that is gone. */
  drop(workerId: number): void {
    const peer = this.peers.get(workerId);
    if (peer) this.closePeer(workerId, peer);
    this.failedAt.delete(workerId);
  }

  close(): void {
    for (const [id, peer] of this.peers) this.closePeer(id, peer);
    this.server.close();
  }

  private pathOf(workerId: number): string {
    return path.join(this.directory, `${workerId}.sock`);
  }

  private connect(id: number): Peer | undefined {
    const failed = this.failedAt.get(id);
    if (failed !== undefined && Date.now() - failed < RECONNECT_DELAY_MS) return undefined;
    const socket = net.createConnection(this.pathOf(id));
    socket.setNoDelay(true);
    const peer: Peer = {
      socket,
      outbox: new TurnBatcher<PeerFrame>((frames) => this.write(id, peer, frames)),
    };
    this.peers.set(id, peer);
    socket.on("error", (error) => {
      this.logger.debug({ err: error, peer: id }, "peer channel failed");
      this.failedAt.set(id, Date.now());
      this.closePeer(id, peer);
    });
    socket.on("close", () => this.closePeer(id, peer));
    return peer;
  }

  private write(id: number, peer: Peer, frames: PeerFrame[]): void {
    if (peer.socket.destroyed) return;
    if (peer.socket.writableLength > this.maxBufferedBytes) {
      this.overflows++;
      this.logger.warn({ peer: id }, "peer channel not read; cutting it off");
      this.closePeer(id, peer);
      return;
    }
    peer.socket.write(`${JSON.stringify(frames)}\n`);
  }

  private closePeer(id: number, peer: Peer): void {
    if (this.peers.get(id) === peer) this.peers.delete(id);
    peer.socket.destroy();
  }

  private accept(socket: net.Socket): void {
    this.events.peerConnected();
    let pending = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      pending += chunk;
      let end = pending.indexOf("\n");
      while (end !== -1) {
        const line = pending.slice(0, end);
        pending = pending.slice(end + 1);
        try {
          this.events.frames(JSON.parse(line) as PeerFrame[]);
        } catch (error) {
          this.logger.error({ err: error }, "bad batch on a peer channel");
        }
        end = pending.indexOf("\n");
      }
    });
    socket.on("error", () => socket.destroy());
  }
}
