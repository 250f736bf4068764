/**
 * `chat-server client`: a line-oriented terminal client. Lines `recipient: text` on stdin are
 * sent; incoming messages print as `from: text` on stdout; problems print as one line on stderr.
 *
 * It works interactively (a prompt, status notes) and in a pipe
 * (`echo "bob: hi" | chat-server client --url … --user alice` sends, waits for the answer, and
 * exits). After a lost connection it logs in again with `since` set to the last message id it
 * saw, and drops messages it has already printed, so nothing is lost or printed twice.
 */
import readline from "node:readline";
import { io, type Socket } from "socket.io-client";
import {
  type ClientToServerEvents,
  ErrorCode,
  isValidUsername,
  type LogInAnswer,
  type LogInPayload,
  type NewMessage,
  type ServerToClientEvents,
} from "../protocol.js";
import { describeError } from "./error-text.js";
import { formatIncoming, parseLine } from "./line.js";
import { LineLimit } from "./line-limit.js";
import { Outbox, type SendOutcome } from "./outbox.js";

export interface TerminalClientOptions {
  /** Server URL, e.g. `http://localhost:3000`. */
  url: string;
  /** Username to log in as. */
  user: string;
  /** HS256 JWT, when the server requires one. */
  token?: string;
  /** `websocket` or `polling`; default: polling first, then upgrade to WebSocket. */
  transport?: string;
  /** Where lines come from. Default `process.stdin`. */
  input?: NodeJS.ReadableStream;
  /** Where incoming messages go. Default `process.stdout`. */
  output?: NodeJS.WritableStream;
  /** Where errors and status notes go. Default `process.stderr`. */
  errorOutput?: NodeJS.WritableStream;
  /** Prompt and status notes; default: when input and output are terminals. */
  interactive?: boolean;
  /** Once input has ended, give up if the server answers nothing for this long. Default 15 s. */
  drainTimeoutMs?: number;
}

type ChatSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/** How long to wait for the answer to one request before treating it as lost. */
const ACK_TIMEOUT_MS = 10_000;
/** Login answers that retrying cannot fix. */
const FATAL_LOGIN_CODES: ReadonlySet<string> = new Set([
  ErrorCode.InvalidUsername,
  ErrorCode.Unauthorized,
  ErrorCode.AlreadyLoggedIn,
]);
/** Ids remembered to drop duplicates (a replay after reconnecting resends recent messages). */
const SEEN_IDS = 10_000;
/**
 * Longest input line read from a pipe: the largest message any server takes (`--max-message-bytes`
 * is at most 1 MiB) after a recipient. Longer lines are skipped, so no input grows the client.
 */
const MAX_LINE_BYTES = 1024 * 1024 + 64;
/** Stop reading input while this many messages wait to be sent; go on below a tenth of it. */
const HIGH_WATER = 1000;

/** Runs the client until its input ends and every message is answered (or a fatal error). */
export async function runTerminalClient(options: TerminalClientOptions): Promise<void> {
  const errorOutput = options.errorOutput ?? process.stderr;
  const problem = checkOptions(options);
  if (problem) {
    errorOutput.write(`chat-server client: ${problem}\n`);
    process.exitCode = 2;
    return;
  }
  await new TerminalClient(options).run();
}

function checkOptions(options: TerminalClientOptions): string | undefined {
  try {
    const url = new URL(options.url);
    if (!/^(https?|wss?):$/.test(url.protocol)) return `--url must be http(s):// or ws(s)://`;
  } catch {
    return `--url: not a valid URL: ${options.url}`;
  }
  if (!isValidUsername(options.user)) {
    return "--user must be 1-32 characters of A-Z a-z 0-9 _ . -";
  }
  if (options.transport !== undefined && !["websocket", "polling"].includes(options.transport)) {
    return "--transport must be websocket or polling";
  }
  return undefined;
}

class TerminalClient {
  private readonly input: NodeJS.ReadableStream;
  private readonly output: NodeJS.WritableStream;
  private readonly errorOutput: NodeJS.WritableStream;
  private readonly interactive: boolean;
  private readonly socket: ChatSocket;
  private readonly outbox: Outbox;
  /** The line reader while it is open: a closed one throws on pause/resume/prompt (Node >= 24). */
  private rl: readline.Interface | undefined;
  private loggedIn = false;
  private everLoggedIn = false;
  private connectFailures = 0;
  private inputEnded = false;
  private finishing = false;
  /** Some line was not sent (unreadable, or refused by the server): exit status 1. */
  private anyUnsent = false;
  private lastId: string | undefined;
  private readonly seen = new Set<string>();
  private drainTimer: ReturnType<typeof setTimeout> | undefined;
  private loginRetry: ReturnType<typeof setTimeout> | undefined;
  private done: () => void = () => {};

  constructor(private readonly options: TerminalClientOptions) {
    this.input = options.input ?? process.stdin;
    this.output = options.output ?? process.stdout;
    this.errorOutput = options.errorOutput ?? process.stderr;
    this.interactive =
      options.interactive ??
      Boolean(
        (this.input as { isTTY?: boolean }).isTTY && (this.output as { isTTY?: boolean }).isTTY,
      );
    // WebSocket first (one connection, no routing between workers), long-polling if a WebSocket
    // cannot be opened; --transport forces one.
    const transports = options.transport
      ? { transports: [options.transport] }
      : { transports: ["websocket", "polling"], tryAllTransports: true };
    this.socket = io(options.url, {
      autoConnect: false,
      reconnectionDelayMax: 5000,
      ...transports,
    });
    this.outbox = new Outbox({
      send: (payload) => this.socket.timeout(ACK_TIMEOUT_MS).emitWithAck("send message", payload),
      onOutcome: (outcome) => this.reportOutcome(outcome),
      onNotLoggedIn: () => this.logIn(),
    });
  }

  run(): Promise<void> {
    const finished = new Promise<void>((resolve) => {
      this.done = resolve;
    });
    this.wireSocket();
    this.wireInput();
    this.output.on("error", () => void this.finish(1)); // e.g. EPIPE when piped into `head`
    this.socket.connect();
    return finished;
  }

  private wireSocket(): void {
    const socket = this.socket;
    socket.on("connect", () => {
      this.connectFailures = 0;
      this.logIn();
    });
    socket.on("disconnect", (reason) => {
      this.loggedIn = false;
      this.outbox.pause();
      if (this.finishing) return;
      this.warn(`connection lost (${reason}); reconnecting`);
      // The server closed this session on purpose (e.g. a worker draining): connect again.
      if (reason === "io server disconnect") socket.connect();
    });
    socket.on("connect_error", (error) => {
      if (this.connectFailures++ === 0) {
        this.warn(`cannot connect to ${this.options.url}: ${error.message}; retrying`);
      }
    });
    socket.on("new message", (message) => this.receive(message));
    socket.on("chat error", (error) => this.warn(describeError(error)));
  }

  private wireInput(): void {
    // A terminal is read by keystrokes; piped input is bounded per line first (line-limit.ts).
    const input = this.interactive
      ? this.input
      : this.input.pipe(
          new LineLimit(MAX_LINE_BYTES, () => {
            this.anyUnsent = true;
            this.warn(`cannot send a line over ${MAX_LINE_BYTES} bytes: skipped`);
          }),
        );
    const rl = readline.createInterface({
      input,
      output: this.interactive ? this.output : undefined,
      terminal: this.interactive,
    });
    this.rl = rl;
    rl.setPrompt("> ");
    rl.on("line", (line) => this.handleLine(line));
    rl.on("close", () => {
      this.rl = undefined;
      this.inputEnded = true;
      this.touchDrainTimer();
      this.maybeFinish();
    });
  }

  private handleLine(raw: string): void {
    const parsed = parseLine(raw);
    if (parsed === undefined) {
      // blank line
    } else if (!parsed.ok) {
      this.anyUnsent = true;
      this.warn(`cannot send that line: ${parsed.reason}`);
    } else {
      this.outbox.enqueue(parsed.line);
      if (this.outbox.size >= HIGH_WATER) this.rl?.pause();
    }
    if (this.interactive) this.rl?.prompt();
  }

  private async logIn(): Promise<void> {
    clearTimeout(this.loginRetry);
    const payload: LogInPayload = { username: this.options.user };
    if (this.options.token) payload.token = this.options.token;
    if (this.lastId !== undefined) payload.since = this.lastId;
    let answer: LogInAnswer;
    try {
      answer = await this.socket.timeout(ACK_TIMEOUT_MS).emitWithAck("log in", payload);
    } catch {
      if (this.socket.connected && !this.finishing) this.retryLogIn();
      return; // otherwise the next "connect" logs in again
    }
    if (this.finishing) return;
    if (answer.ok) {
      this.loggedIn = true;
      this.note(
        this.everLoggedIn
          ? "reconnected"
          : `logged in to ${this.options.url} as ${this.options.user}; type "recipient: text", Ctrl-D to quit`,
      );
      this.everLoggedIn = true;
      this.touchDrainTimer();
      this.outbox.resume();
      this.maybeFinish();
      return;
    }
    this.warn(`cannot log in as ${this.options.user}: ${describeError(answer.error)}`);
    if (answer.error.code === ErrorCode.InvalidPayload && payload.since !== undefined) {
      this.lastId = undefined; // an id this server does not know: log in without it
      this.retryLogIn();
    } else if (FATAL_LOGIN_CODES.has(answer.error.code)) void this.finish(1);
    else this.retryLogIn();
  }

  private retryLogIn(): void {
    clearTimeout(this.loginRetry);
    this.loginRetry = setTimeout(() => {
      if (this.socket.connected) void this.logIn();
    }, 1000);
  }

  private receive(message: NewMessage): void {
    if (this.seen.has(message.id)) return;
    this.seen.add(message.id);
    if (this.seen.size > SEEN_IDS) {
      const oldest = this.seen.values().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
    this.lastId = message.id;
    this.print(this.output, formatIncoming(message.from, message.message));
  }

  private reportOutcome(outcome: SendOutcome): void {
    this.touchDrainTimer();
    const to = outcome.message.recipient;
    if (outcome.kind === "failed") {
      this.anyUnsent = true;
      this.warn(`could not send to ${to}: ${describeError(outcome.error)}`);
    } else if (outcome.status === "stored") {
      this.note(`${to} is offline; the message is kept until they log in`);
    }
    if (this.outbox.size < HIGH_WATER / 10) this.rl?.resume();
    this.maybeFinish();
  }

  private maybeFinish(): void {
    if (this.inputEnded && this.loggedIn && this.outbox.size === 0) {
      void this.finish(this.anyUnsent ? 1 : 0);
    }
  }

  /** After input ends: exit with an error if the server makes no progress for a while. */
  private touchDrainTimer(): void {
    if (!this.inputEnded || this.finishing) return;
    clearTimeout(this.drainTimer);
    this.drainTimer = setTimeout(() => {
      const pending = this.outbox.size;
      this.warn(
        pending > 0
          ? `giving up: ${pending} message(s) not confirmed by the server`
          : `giving up: could not log in to ${this.options.url}`,
      );
      void this.finish(1);
    }, this.options.drainTimeoutMs ?? 15_000);
  }

  private async finish(exitCode: number): Promise<void> {
    if (this.finishing) return;
    this.finishing = true;
    if (exitCode !== 0) process.exitCode = exitCode;
    clearTimeout(this.drainTimer);
    clearTimeout(this.loginRetry);
    this.outbox.close();
    this.rl?.close();
    if (this.loggedIn) {
      // A last round trip: messages the server sent before answering have been printed.
      await this.socket
        .timeout(2000)
        .emitWithAck("log out")
        .catch(() => undefined);
    }
    this.socket.disconnect();
    if (this.input === process.stdin) process.stdin.destroy();
    this.done();
  }

  /** A status note: shown only to a person at a terminal, never in a pipe. */
  private note(text: string): void {
    if (this.interactive) this.print(this.errorOutput, `(${text})`);
  }

  /** An error or warning: always one line on stderr. */
  private warn(text: string): void {
    this.print(this.errorOutput, `chat-server client: ${text}`);
  }

  /** Writes a line without mangling the prompt the person is typing at. */
  private print(stream: NodeJS.WritableStream, line: string): void {
    const rl = this.rl;
    if (!this.interactive || !rl || this.finishing) {
      stream.write(`${line}\n`);
      return;
    }
    readline.clearLine(this.output, 0);
    readline.cursorTo(this.output, 0);
    stream.write(`${line}\n`);
    rl.prompt(true);
  }
}
