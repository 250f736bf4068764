/**
 * Options of `npm run bench` (node dist/bench/run.js): one type, one defaults object, parsed
 * once by commander and validated with clear messages.
 */
import { Command, InvalidArgumentError, Option } from "commander";
import type { ConnectionClient } from "./connection-messages.js";
import type { Transport } from "./dm-messages.js";
import { READING_GUIDE, targetsHelp } from "./reading-guide.js";
import { parseTargets, type Target } from "./targets.js";

export type Scenario = "dm" | "connections" | "presence" | "storm";
const SCENARIOS: Scenario[] = ["dm", "connections", "presence", "storm"];

export interface BenchOptions {
  /** Which scenarios run, in order. */
  scenarios: Scenario[];
  /** Which servers run, in order (the product and the baselines). */
  targets: Target[];
  /** Worker counts for multi-process targets; each runs once per count. */
  workers: number[];
  /** Host counts for multi-host targets (dm only); clients use the first two hosts. */
  hosts: number[];
  /**
   * Masters of a local Redis Cluster (each with a replica): chat-server-redis runs on each,
   * besides its run on one redis-server (dm only).
   */
  redisClusters: number[];
  /** Direct messages: logged-in clients. */
  clients: number;
  /** Direct messages per second, all clients together. */
  rate: number;
  /** Seconds measured. */
  duration: number;
  /** Seconds of load before the measured window. */
  warmup: number;
  /** Most seconds to wait for messages in flight after the window. */
  drain: number;
  transport: Transport;
  /** Bytes of text per message. */
  messageBytes: number;
  /** Connection load: sessions to open. */
  connections: number;
  /** Connection load: sessions being set up at once. */
  concurrency: number;
  /** Connection load: the client library (lean: a bare WebSocket, cheaper to generate). */
  connectionClient: ConnectionClient;
  /** Presence: logged-in clients watching the subjects. */
  watchers: number;
  /** Presence: subjects' log ins and log outs per second. */
  presenceRate: number;
  /** Times each run is repeated (interleaved); the median repetition is reported. */
  repeat: number;
  json: boolean;
  html?: string;
  /** Directory where every server process writes a V8 CPU profile (node --cpu-prof). */
  cpuProf?: string;
}

export const DEFAULTS = Object.freeze({
  scenarios: "dm,connections",
  targets: "chat-server,seed,cluster",
  workers: "2",
  hosts: "1",
  clients: 300,
  rate: 2000,
  duration: 10,
  warmup: 3,
  drain: 5,
  transport: "websocket" as Transport,
  messageBytes: 32,
  connections: 30_000,
  concurrency: 200,
  connectionClient: "lean" as ConnectionClient,
  watchers: 200,
  presenceRate: 50,
  repeat: 1,
});

function number(min: number, max: number, integer = true) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === "" || !Number.isFinite(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected a number from ${min} to ${max}, got "${value}"`);
    }
    if (integer && !Number.isInteger(n)) throw new InvalidArgumentError(`expected an integer`);
    return n;
  };
}

function list<T>(parse: (item: string) => T) {
  return (value: string): T[] => {
    const items = value.split(",").map((item) => item.trim());
    if (items.some((item) => item === "")) throw new InvalidArgumentError("empty item in list");
    return items.map(parse);
  };
}

function scenario(value: string): Scenario {
  if (!(SCENARIOS as string[]).includes(value)) {
    throw new InvalidArgumentError(`expected ${SCENARIOS.join(" or ")}, got "${value}"`);
  }
  return value as Scenario;
}

function targets(value: string): Target[] {
  try {
    return parseTargets(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

export function parseOptions(argv: string[]): BenchOptions {
  const program = new Command("bench")
    .description("load-test chat-server against its baselines (see bench/README.md)")
    .addOption(
      new Option(
        "--scenarios <list>",
        "dm (direct messages at a fixed rate), connections (opening many sessions), " +
          "presence (watchers, users logging in and out; chat-server targets only), " +
          "storm (--connections sessions, every worker killed at once, all reconnect; " +
          "chat-server targets only)",
      )
        .default(list(scenario)(DEFAULTS.scenarios), DEFAULTS.scenarios)
        .argParser(list(scenario)),
    )
    .addOption(
      new Option("--targets <list>", "servers to measure, in order (listed below)")
        .default(targets(DEFAULTS.targets), DEFAULTS.targets)
        .argParser(targets),
    )
    .addOption(
      new Option("--workers <list>", "worker counts, e.g. 2 or 2,8")
        .default([2], DEFAULTS.workers)
        .argParser(list(number(1, 64))),
    )
    .addOption(
      new Option(
        "--hosts <list>",
        "host counts for chat-server-redis and seed-redis (dm, presence), e.g. 2,12: clients use 2 hosts",
      )
        .default([1], DEFAULTS.hosts)
        .argParser(list(number(1, 64))),
    )
    .addOption(
      new Option(
        "--redis-cluster <list>",
        "chat-server-redis (dm) also on a local Redis Cluster of N masters + N replicas, e.g. 3",
      )
        .default([], "none")
        .argParser(list(number(3, 16))),
    )
    .addOption(
      new Option("--watchers <n>", "presence: clients each watching 10 of 100 users")
        .default(DEFAULTS.watchers)
        .argParser(number(10, 20_000)),
    )
    .addOption(
      new Option("--presence-rate <n>", "presence: log ins and log outs per second")
        .default(DEFAULTS.presenceRate)
        .argParser(number(1, 10_000)),
    )
    .addOption(
      new Option("--clients <n>", "clients of the direct-message load")
        .default(DEFAULTS.clients)
        .argParser(number(2, 20_000)),
    )
    .addOption(
      new Option("--rate <n>", "messages per second, all clients together")
        .default(DEFAULTS.rate)
        .argParser(number(1, 1_000_000)),
    )
    .addOption(
      new Option("--duration <s>", "seconds measured")
        .default(DEFAULTS.duration)
        .argParser(number(0.5, 3600, false)),
    )
    .addOption(
      new Option("--warmup <s>", "seconds of load before measuring")
        .default(DEFAULTS.warmup)
        .argParser(number(0, 600, false)),
    )
    .addOption(
      new Option("--drain <s>", "most seconds to wait for messages in flight")
        .default(DEFAULTS.drain)
        .argParser(number(0, 600, false)),
    )
    .addOption(
      new Option("--transport <t>", "transport of the direct-message clients")
        .choices(["websocket", "polling"])
        .default(DEFAULTS.transport),
    )
    .addOption(
      new Option("--message-bytes <n>", "bytes of text per message")
        .default(DEFAULTS.messageBytes)
        .argParser(number(16, 4096)),
    )
    .addOption(
      new Option("--connections <n>", "sessions the connection load opens")
        .default(DEFAULTS.connections)
        .argParser(number(1, 1_000_000)),
    )
    .addOption(
      new Option("--concurrency <n>", "sessions being set up at once (connection load)")
        .default(DEFAULTS.concurrency)
        .argParser(number(1, 10_000)),
    )
    .addOption(
      new Option("--connection-client <c>", "client of the connection load")
        .choices(["lean", "socket.io"])
        .default(DEFAULTS.connectionClient),
    )
    .addOption(
      new Option("--repeat <n>", "run everything n times, interleaved; report the median run")
        .default(DEFAULTS.repeat)
        .argParser(number(1, 100)),
    )
    .option("--json", "print the results as JSON on stdout (progress stays on stderr)", false)
    .option("--html <file>", "write an HTML report with latency charts to <file>")
    .option("--cpu-prof <dir>", "write a CPU profile of every server process into <dir>")
    .addHelpText("after", `\nTargets (--targets):\n${targetsHelp()}\n\n${READING_GUIDE}`);
  program.parse(argv, { from: "user" });
  const o = program.opts();
  return Object.freeze({
    scenarios: o.scenarios,
    targets: o.targets,
    workers: o.workers,
    hosts: o.hosts,
    redisClusters: o.redisCluster,
    clients: o.clients,
    rate: o.rate,
    duration: o.duration,
    warmup: o.warmup,
    drain: o.drain,
    transport: o.transport,
    messageBytes: o.messageBytes,
    connections: o.connections,
    concurrency: o.concurrency,
    connectionClient: o.connectionClient,
    watchers: o.watchers,
    presenceRate: o.presenceRate,
    repeat: o.repeat,
    json: o.json,
    html: o.html,
    cpuProf: o.cpuProf,
  }) as BenchOptions;
}
