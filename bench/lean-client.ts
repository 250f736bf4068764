/**
 * A lean Socket.IO client for the connection load: a bare WebSocket speaking Engine.IO v4 and
 * the Socket.IO v5 packet format for exactly what a session needs (open, connect to "/",
 * `log in` with an acknowledgement, answer pings). The server cannot tell it from
 * socket.io-client over WebSocket, but it costs the generator a fraction of the CPU and
 * memory, so tens of thousands of sessions measure the server rather than the generator.
 */
import WebSocket from "ws";
import { ClientFailure } from "./client.js";

export interface LeanSession {
  close(): void;
}

export interface LeanOptions {
  localAddress?: string;
  /** Binding an explicit source port is O(1); letting the kernel search for one with a
   * source address set costs ~2 ms of system CPU per connection once thousands are open. */
  localPort?: number;
  timeoutMs: number;
  /** Called if the session closes after it logged in. */
  onDrop?: () => void;
}

/** Engine.IO packet types (first character of each frame) and Socket.IO ones (second). */
const EIO_OPEN = "0";
const EIO_PING = "2";
const EIO_PONG = "3";
const EIO_MESSAGE = "4";
const SIO_CONNECT = "0";
const SIO_ACK = "3";
const SIO_CONNECT_ERROR = "4";

export function openLeanSession(
  url: string,
  username: string,
  options: LeanOptions,
): Promise<LeanSession> {
  const wsUrl = `${url.replace(/^http/, "ws")}/socket.io/?EIO=4&transport=websocket`;
  const ws = new WebSocket(wsUrl, {
    localAddress: options.localAddress,
    ...(options.localPort ? { localPort: options.localPort } : {}),
    perMessageDeflate: false,
    handshakeTimeout: options.timeoutMs,
  });
  const session: LeanSession = {
    close() {
      ws.removeAllListeners("close");
      ws.terminate();
    },
  };
  return new Promise((resolve, reject) => {
    let settled = false;
    let step: "open" | "connect" | "log in" = "open";
    const timer = setTimeout(() => fail(`${step}: timeout`), options.timeoutMs);
    const fail = (reason: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ws.terminate();
      reject(new ClientFailure(reason));
    };
    const succeed = () => {
      settled = true;
      clearTimeout(timer);
      resolve(session);
    };
    ws.on("error", (error) => fail(`${step}: ${error.message}`));
    ws.on("close", () => {
      if (settled && step === "log in") options.onDrop?.();
      fail(`${step}: closed`);
    });
    ws.on("message", (data) => {
      const frame = data.toString();
      if (frame === EIO_PING) return ws.send(EIO_PONG);
      if (settled) return;
      if (step === "open" && frame.startsWith(EIO_OPEN)) {
        step = "connect";
        ws.send(EIO_MESSAGE + SIO_CONNECT);
      } else if (step === "connect" && frame.startsWith(EIO_MESSAGE + SIO_CONNECT)) {
        step = "log in";
        ws.send(`${EIO_MESSAGE}20${JSON.stringify(["log in", { username }])}`);
      } else if (step === "connect" && frame.startsWith(EIO_MESSAGE + SIO_CONNECT_ERROR)) {
        fail(`connect: ${frame.slice(2)}`);
      } else if (step === "log in" && frame.startsWith(`${EIO_MESSAGE + SIO_ACK}0`)) {
        const [answer] = JSON.parse(frame.slice(3)) as [{ ok?: boolean; error?: { code: string } }];
        if (answer?.ok) succeed();
        else fail(`log in: ${answer?.error?.code ?? "bad answer"}`);
      }
    });
  });
}
