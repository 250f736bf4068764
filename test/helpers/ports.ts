/**
 * Free TCP ports on 127.0.0.1, for processes that must be told their port up front (HAProxy's
 * listen and stats ports, Redis, Sentinel, Redis Cluster nodes). Where a program can bind port 0
 * and say which port it got, tests use that instead (chat-server's `--port 0` and its
 * "listening" log line; HAProxy's backends are given the ports the servers got).
 *
 * The ports come from below the kernel's ephemeral range, so the many outgoing connections the
 * tests open (each takes an ephemeral port) and other tests' `listen(0)` can never take one
 * between the check here and the program's bind. Another test file drawing (probing) the same
 * random port in that window is the race left: every start-up on a drawn or fixed port retries
 * on "address in use" (startRedis and restarts, startHaproxy, startChatServer with `port`).
 */
import { readFileSync } from "node:fs";
import net from "node:net";

const HOST = "127.0.0.1";

/** The lowest ephemeral port (32768 on Linux by default). */
function ephemeralStart(): number {
  try {
    const [low] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8")
      .trim()
      .split(/\s+/);
    return Number(low) || 32_768;
  } catch {
    return 32_768;
  }
}

const LOW = 10_000;
const HIGH = Math.max(LOW + 1000, ephemeralStart());

/** Binds `port` for a moment; whether it could. */
function canBind(port: number): Promise<net.Server | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(undefined));
    server.listen(port, HOST, () => resolve(server));
  });
}

/** `count` distinct ports free right now, below the ephemeral range (held together, then freed). */
export async function freePorts(count: number): Promise<number[]> {
  const held = new Map<number, net.Server>();
  while (held.size < count) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (held.has(port)) continue;
    const server = await canBind(port);
    if (server) held.set(port, server);
  }
  await Promise.all(
    [...held.values()].map((server) => new Promise((resolve) => server.close(resolve))),
  );
  return [...held.keys()];
}

/** One port free right now, below the ephemeral range. */
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  return port as number;
}
