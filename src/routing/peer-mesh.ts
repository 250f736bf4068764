/**
 * Direct channels between the workers of one host, so a message to a user on another worker
 * goes there in one hop instead of through the primary. Each worker listens on a Unix socket in
 * a private directory the primary made; a worker writes to a peer over the connection it opened
 * and reads from connections peers opened to it. Batches are newline-delimited JSON, one write
 * per peer per event-loop turn.
 */
import { rmSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import type { Logger } from "pino";
import type { NewMessage } from "../protocol.js";
import { TurnBatcher } from "./turn-batcher.js";

interface Peer {
  socket: net.Socket;
  outbox: TurnBatcher<NewMessage>;
}

export class PeerMesh {
  private readonly peers = new Map<number, Peer>();
  private readonly server: net.Server;
  readonly socketPath: string;

  constructor(
    private readonly selfId: number,
    directory: string,
    private readonly onMessages: (messages: NewMessage[]) => void,
    private readonly logger: Logger,
  ) {
    this.socketPath = path.join(directory, `${selfId}.sock`);
    this.server = net.createServer((socket) => this.accept(socket));
    this.server.on("error", (error) => logger.error({ err: error }, "peer socket failed"));
  }

  async listen(): Promise<void> {
    rmSync(this.socketPath, { force: true });
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(this.socketPath, () => resolve());
    });
  }

  /** The live workers (from the primary): connect to new ones, forget the gone. */
  setPeers(peers: [number, string][]): void {
    const live = new Set(peers.map(([id]) => id));
    for (const [id, peer] of this.peers) {
      if (!live.has(id)) this.drop(id, peer);
    }
    for (const [id, socketPath] of peers) {
      if (id !== this.selfId && !this.peers.has(id)) this.connect(id, socketPath);
    }
  }

  /** Whether messages to `workerId` can go direct (its channel is open or opening: writes
   * made while it connects are sent in order once it is up). */
  reaches(workerId: number): boolean {
    const peer = this.peers.get(workerId);
    return peer !== undefined && !peer.socket.destroyed;
  }

  send(workerId: number, message: NewMessage): void {
    this.peers.get(workerId)?.outbox.push(message);
  }

  close(): void {
    for (const [id, peer] of this.peers) this.drop(id, peer);
    this.server.close();
  }

  private connect(id: number, socketPath: string): void {
    const socket = net.createConnection(socketPath);
    socket.setNoDelay(true);
    const outbox = new TurnBatcher<NewMessage>((messages) => {
      if (socket.writable) socket.write(`${JSON.stringify(messages)}\n`);
    });
    const peer = { socket, outbox };
    this.peers.set(id, peer);
    socket.on("error", (error) => {
      this.logger.debug({ err: error, peer: id }, "peer channel failed");
      this.drop(id, peer);
    });
    socket.on("close", () => this.drop(id, peer));
  }

  private drop(id: number, peer: Peer): void {
    if (this.peers.get(id) === peer) this.peers.delete(id);
    peer.socket.destroy();
  }

  private accept(socket: net.Socket): void {
    let pending = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      pending += chunk;
      let end = pending.indexOf("\n");
      while (end !== -1) {
        const line = pending.slice(0, end);
        pending = pending.slice(end + 1);
        try {
          this.onMessages(JSON.parse(line) as NewMessage[]);
        } catch (error) {
          this.logger.error({ err: error }, "bad batch on a peer channel");
        }
        end = pending.indexOf("\n");
      }
    });
    socket.on("error", () => socket.destroy());
  }
}
