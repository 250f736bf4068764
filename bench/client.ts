/**
 * One benchmark client: a Socket.IO connection of its own (never multiplexed), logged in.
 */
import { io, type Socket } from "socket.io-client";
import type { LogInAnswer } from "../src/protocol.js";
import type { Transport } from "./dm-messages.js";

export interface ClientOptions {
  transport: Transport;
  /** Source address to connect from (spreads connections over 127.0.0.x). */
  localAddress?: string;
  /** For the connection and the log-in answer each. */
  timeoutMs: number;
}

/** Why a client failed, as a short stable label for counting. */
export class ClientFailure extends Error {}

export function connectAndLogIn(
  url: string,
  username: string,
  options: ClientOptions,
): Promise<Socket> {
  const socket = io(url, {
    forceNew: true,
    reconnection: false,
    transports: [options.transport],
    timeout: options.timeoutMs,
    ...(options.localAddress ? { localAddress: options.localAddress } : {}),
  });
  return new Promise((resolve, reject) => {
    const fail = (reason: string) => {
      socket.removeAllListeners();
      socket.disconnect();
      reject(new ClientFailure(reason));
    };
    socket.once("connect_error", (error) => fail(`connect: ${error.message}`));
    socket.once("connect", () => {
      socket.off("connect_error");
      socket
        .timeout(options.timeoutMs)
        .emit("log in", { username }, (error: Error | null, answer?: LogInAnswer) => {
          if (error) return fail("log in: timeout");
          if (!answer?.ok) return fail(`log in: ${answer?.error.code ?? "no answer"}`);
          resolve(socket);
        });
    });
  });
}

/** Runs `task` for 0 .. count-1 with at most `concurrency` in flight. */
export async function forEachLimited(
  count: number,
  concurrency: number,
  task: (index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, count)) }, lane));
}

/** Adds one to `counts[key]`. */
export function tally(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}
