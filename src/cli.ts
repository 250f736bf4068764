/**
 * `chat-server start | client`: parses flags and environment variables into a typed config and
 * hands it on. A user mistake prints one line naming the option and exits non-zero.
 */
import { readFileSync } from "node:fs";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import {
  ConfigError,
  DEFAULTS,
  LOG_LEVELS,
  type LogLevel,
  parseClusterSeeds,
  parseRedisUrl,
  parseSentinels,
  resolveConfig,
  type ServerConfig,
} from "./config.js";

const packageJson = JSON.parse(
  readFileSync(new URL("../../package.json", import.meta.url), "utf8"),
) as { version: string };

function integer(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\s*\d+\s*$/.test(value) || !Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}, got "${value}"`);
    }
    return n;
  };
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n <= 0) {
    throw new InvalidArgumentError(`expected a positive number, got "${value}"`);
  }
  return n;
}

function wrap<T>(parse: (value: string) => T) {
  return (value: string): T => {
    try {
      return parse(value);
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message.replace(/^--[\w-]+: /, ""));
    }
  };
}

function logLevel(value: string): LogLevel {
  if (!(LOG_LEVELS as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(`expected one of ${LOG_LEVELS.join(", ")}`);
  }
  return value as LogLevel;
}

function buildProgram(): Command {
  const program = new Command("chat-server")
    .description("Horizontally scalable real-time direct-messaging server (Socket.IO)")
    .version(packageJson.version, "-v, --version")
    .exitOverride();

  program
    .command("start")
    .description("run the server: a primary process and one Socket.IO worker per core")
    .addOption(
      new Option("-p, --port <n>", "TCP port to listen on")
        .env("PORT")
        .default(DEFAULTS.port)
        .argParser(integer(0, 65535)),
    )
    .addOption(
      new Option(
        "--host <addr>",
        "address to bind (default: 0.0.0.0 with --auth-secret, else 127.0.0.1 only)",
      ).env("HOST"),
    )
    .addOption(
      new Option("-w, --workers <n>", "Socket.IO worker processes (default: number of cores)")
        .env("WORKERS")
        .argParser(integer(1, 1024)),
    )
    .addOption(
      new Option(
        "--redis <url>",
        "Redis for multi-host mode: host, host:port, redis://…, rediss://…",
      )
        .env("REDIS_URL")
        .argParser(wrap(parseRedisUrl)),
    )
    .addOption(
      new Option("--redis-sentinels <list>", "Redis through Sentinel: host:port,host:port,…")
        .env("REDIS_SENTINELS")
        .argParser(wrap(parseSentinels)),
    )
    .addOption(
      new Option(
        "--redis-cluster <list>",
        "Redis Cluster seed nodes: host:port,… (or rediss://user:pass@host:port,… for TLS)",
      )
        .env("REDIS_CLUSTER")
        .argParser(wrap(parseClusterSeeds)),
    )
    .addOption(
      new Option("--redis-master <name>", "Sentinel master name")
        .env("REDIS_MASTER")
        .default(DEFAULTS.redisMaster),
    )
    .addOption(
      new Option("--redis-prefix <p>", "prefix of every Redis key and channel")
        .env("REDIS_PREFIX")
        .default(DEFAULTS.redisPrefix),
    )
    .addOption(
      new Option(
        "--node-id <id>",
        "this host's name in presence data (default: <hostname>:<port>)",
      ).env("NODE_ID"),
    )
    .addOption(
      new Option("--auth-secret <s>", "require HS256 JWTs whose sub is the username").env(
        "CHAT_AUTH_SECRET",
      ),
    )
    .addOption(
      new Option("--max-message-bytes <n>", "largest message text, UTF-8 bytes")
        .default(DEFAULTS.maxMessageBytes)
        .argParser(integer(1, 1024 * 1024)),
    )
    .addOption(
      new Option("--rate-limit <n>", "events per second per connection, of every kind (burst: 2n)")
        .default(DEFAULTS.rateLimit)
        .argParser(positiveNumber),
    )
    .addOption(
      new Option("--shutdown-timeout <s>", "grace period for draining on SIGTERM, seconds")
        .default(DEFAULTS.shutdownTimeout)
        .argParser(positiveNumber),
    )
    .addOption(
      new Option(
        "--worker-stall-timeout <s>",
        "seconds a worker may go without a word to the primary (a stuck event loop) before it is killed and replaced",
      )
        .default(DEFAULTS.workerStallTimeout)
        .argParser(positiveNumber),
    )
    .addOption(
      new Option("--log-level <l>", "pino log level")
        .env("LOG_LEVEL")
        .default(DEFAULTS.logLevel)
        .argParser(logLevel),
    )
    .addOption(
      new Option(
        "--cors-origin <list>",
        "browser origins allowed from other sites, comma-separated, or * (default: same origin)",
      ).env("CORS_ORIGIN"),
    )
    .addOption(
      new Option(
        "--max-connections-per-ip <n>",
        "sessions per client address over all workers (and unfinished request heads), 0 = no limit",
      )
        .env("MAX_CONNECTIONS_PER_IP")
        .default(DEFAULTS.maxConnectionsPerIp)
        .argParser(integer(0, 10_000_000)),
    )
    .addOption(
      new Option(
        "--request-head-timeout <s>",
        "seconds from accept to a complete request head (fixed, not an idle timer), then 408",
      )
        .default(DEFAULTS.requestHeadTimeout)
        .argParser(positiveNumber),
    )
    .addOption(
      new Option(
        "--max-unsent-bytes <n>",
        "bytes waiting to be sent to one connection before it is dropped as a slow reader",
      )
        .default(DEFAULTS.maxUnsentBytes)
        .argParser(integer(64 * 1024, 2 ** 31)),
    )
    .addOption(
      new Option(
        "--max-sessions-per-user <n>",
        "logged-in sessions of one user on one worker, 0 = no limit",
      )
        .default(DEFAULTS.maxSessionsPerUser)
        .argParser(integer(0, 1_000_000)),
    )
    .addOption(
      new Option(
        "--max-stored-bytes-per-user <n>",
        "message bytes one sender may have stored per day (per worker), 0 = no limit",
      )
        .default(DEFAULTS.maxStoredBytesPerUser)
        .argParser(integer(0, 2 ** 40)),
    )
    .addOption(
      new Option(
        "--max-concurrent-replays <n>",
        "log-in replays (stored messages sent after log in) fetched at once per worker",
      )
        .default(DEFAULTS.maxConcurrentReplays)
        .argParser(integer(1, 100_000)),
    )
    .addOption(
      new Option(
        "--data-dir <path>",
        "embedded mode: where the inboxes are kept (default: $STATE_DIRECTORY, else ./chat-data)",
      ).env("CHAT_DATA_DIR"),
    )
    .addOption(
      new Option("--max-data-mb <n>", "embedded mode: largest database size, MiB")
        .env("CHAT_MAX_DATA_MB")
        .default(DEFAULTS.maxDataMb)
        .argParser(integer(1, 1024 * 1024 * 1024)),
    )
    .addOption(
      new Option(
        "--sync-acks",
        "embedded mode: acknowledge messages once flushed to disk (survive power loss; slower)",
      ).env("CHAT_SYNC_ACKS"),
    )
    .action(async (options: Record<string, unknown>) => {
      const config = resolveConfig(toConfig(options));
      const { runPrimary } = await import("./primary.js");
      await runPrimary(config);
    });

  program
    .command("client")
    .description("interactive terminal client: reads `recipient: text` lines, prints `from: text`")
    .requiredOption("--url <url>", "server URL, e.g. http://localhost:3000")
    .requiredOption("--user <name>", "username to log in as")
    .option("--token <jwt>", "JWT when the server requires one")
    .option("--transport <t>", "websocket or polling (default: polling, then upgrade)")
    .action(async (options: { url: string; user: string; token?: string; transport?: string }) => {
      const { runTerminalClient } = await import("./client/terminal-client.js");
      await runTerminalClient(options);
    });

  return program;
}

function toConfig(options: Record<string, unknown>): Partial<ServerConfig> {
  const cors = options.corsOrigin as string | undefined;
  return {
    port: options.port as number,
    host: options.host as string | undefined,
    workers: options.workers as number | undefined,
    redisUrl: options.redis as string | undefined,
    redisSentinels: options.redisSentinels as ServerConfig["redisSentinels"],
    redisMaster: options.redisMaster as string,
    redisCluster: options.redisCluster as string[] | undefined,
    redisPrefix: options.redisPrefix as string,
    nodeId: options.nodeId as string | undefined,
    authSecret: options.authSecret as string | undefined,
    maxMessageBytes: options.maxMessageBytes as number,
    rateLimit: options.rateLimit as number,
    shutdownTimeout: options.shutdownTimeout as number,
    workerStallTimeout: options.workerStallTimeout as number,
    logLevel: options.logLevel as LogLevel,
    corsOrigin: cors === undefined ? undefined : cors.split(",").map((s) => s.trim()),
    maxConnectionsPerIp: options.maxConnectionsPerIp as number,
    requestHeadTimeout: options.requestHeadTimeout as number,
    maxUnsentBytes: options.maxUnsentBytes as number,
    maxSessionsPerUser: options.maxSessionsPerUser as number,
    maxStoredBytesPerUser: options.maxStoredBytesPerUser as number,
    maxConcurrentReplays: options.maxConcurrentReplays as number,
    dataDir: options.dataDir as string | undefined,
    maxDataMb: options.maxDataMb as number,
    syncAcks: options.syncAcks === true,
  };
}

async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander has already printed the message (and help hint) to stderr
      process.exit(error.exitCode);
    }
    if (error instanceof ConfigError) {
      console.error(`chat-server: ${error.message}`);
      process.exit(2);
    }
    throw error;
  }
}

await main(process.argv);
