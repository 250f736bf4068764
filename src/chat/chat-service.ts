/**
 * The chat protocol on one worker: validates each client event, applies the rate limit, talks to
 * the back-end (presence, inbox, routing) and answers through the acknowledgement or `chat error`.
 * It knows nothing of transports or of where other users are.
 */
import type { Logger } from "pino";
import type { Socket } from "socket.io";
import {
  type Answer,
  type ChatErrorBody,
  ClientEvent,
  type ClientToServerEvents,
  ErrorCode,
  MAX_LISTED_USERS,
  MAX_WATCH_PER_CALL,
  MAX_WATCHED_PER_CONNECTION,
  type NewMessage,
  ServerEvent,
  type ServerToClientEvents,
} from "../protocol.js";
import { type Backend, BackendUnavailableError } from "../routing/backend.js";
import type { TokenVerifier } from "./auth.js";
import { ChatLimits, type LimitOptions, NO_LIMITS } from "./chat-limits.js";
import { type ChatMetrics, NO_METRICS } from "./chat-metrics.js";
import { failure } from "./errors.js";
import { LocalSessions } from "./local-sessions.js";
import { TokenBucket } from "./rate-limiter.js";
import { checkLogIn, checkSend, checkTyping, checkWatch } from "./validate.js";
import { WatchBook } from "./watch-book.js";

export interface SocketData {
  username: string | undefined;
  bucket: TokenBucket;
}

export type ChatSocket = Socket<ClientToServerEvents, ServerToClientEvents, object, SocketData>;

export interface ChatOptions {
  backend: Backend;
  logger: Logger;
  maxMessageBytes: number;
  rateLimit: number;
  /** Present when the server requires JWTs. */
  verifyToken: TokenVerifier | undefined;
  metrics?: ChatMetrics;
  /** Bounds per connection and account (README "Limits and abuse"); default none. */
  limits?: LimitOptions;
}

/** Any event's answer: `{ ok: true, ...fields }` or a failure. */
type AnyAnswer = Answer<Record<string, unknown>>;

type Handler = (socket: ChatSocket, payload: unknown) => Promise<AnyAnswer> | AnyAnswer;

export class ChatService {
  readonly sessions = new LocalSessions<ChatSocket>(
    (socket, message) => {
      socket.emit(ServerEvent.NewMessage, message);
      this.limits.unsent.check(socket);
    },
    (socket) => socket.id,
  );
  readonly watches = new WatchBook<ChatSocket>(MAX_WATCHED_PER_CONNECTION);
  private readonly metrics: ChatMetrics;
  readonly limits: ChatLimits<ChatSocket>;
  /** Answers still being worked out (a send waiting for storage), for a clean drain. */
  private readonly unanswered = new Set<Promise<void>>();
  private readonly handlers = new Map<string, Handler>([
    [ClientEvent.LogIn, (socket, payload) => this.logIn(socket, payload)],
    [ClientEvent.SendMessage, (socket, payload) => this.sendMessage(socket, payload)],
    [ClientEvent.ListUsers, () => this.listUsers()],
    [ClientEvent.LogOut, (socket) => this.logOut(socket)],
    [ClientEvent.Watch, (socket, payload) => this.watch(socket, payload)],
    [ClientEvent.Unwatch, (socket, payload) => this.unwatch(socket, payload)],
    [ClientEvent.Typing, (socket, payload) => this.typing(socket, payload)],
  ]);
  /**
   * The listeners every socket shares: Socket.IO calls them with the socket as `this`, so a
   * session costs no closures (ten per socket were ~0.8 KB of each session's memory).
   */
  private readonly onEvent: (this: ChatSocket, event: unknown, ...args: unknown[]) => void;
  private readonly onDisconnect: (this: ChatSocket) => void;

  constructor(private readonly options: ChatOptions) {
    this.metrics = options.metrics ?? NO_METRICS;
    this.limits = new ChatLimits(options.limits ?? NO_LIMITS, this.metrics, (socket) =>
      this.expire(socket),
    );
    options.backend.onDeliver(({ user, message, exceptSession }) => {
      const count = this.sessions.deliver(user, message, exceptSession);
      if (count > 0) this.metrics.delivered(count, (Date.now() - message.sentAt) / 1000);
    });
    options.backend.onPresence((username, online) => {
      const watchers = this.watches.watchersOf(username);
      if (!watchers) {
        // Work spent here for nobody: the back-ends keep this at zero (bench and /metrics).
        this.metrics.presenceUnwatched();
        return;
      }
      for (const socket of watchers) socket.emit(ServerEvent.Presence, { username, online });
      this.metrics.presence(watchers.size);
    });
    options.backend.onTyping((from, to) => {
      for (const socket of this.sessions.sessionsOf(to) ?? []) {
        socket.emit(ServerEvent.Typing, { from });
      }
    });
    const service = this;
    this.onEvent = function (event, ...args) {
      service.dispatch(this, event, args);
    };
    this.onDisconnect = function () {
      service.leave(this);
    };
  }

  attach(socket: ChatSocket): void {
    const { rateLimit } = this.options;
    socket.data.bucket = new TokenBucket(rateLimit, rateLimit * 2);
    socket.data.username = undefined;
    socket.onAny(this.onEvent);
    socket.on("disconnect", this.onDisconnect);
  }

  /**
   * Resolves once every request received so far has been answered, or after `timeoutMs`: a drain
   * waits for it, so clients get their acknowledgements before their connection closes (and do
   * not send again what was already accepted).
   */
  async answered(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    await Promise.race([Promise.allSettled([...this.unanswered]), timeout]);
    clearTimeout(timer);
  }

  /** Users with at least one logged-in session on this worker. */
  onlineUserCount(): number {
    return this.sessions.userCount();
  }

  /** Every client event: rate limit, then its handler, answered by ack or `chat error`. */
  private dispatch(socket: ChatSocket, event: unknown, args: unknown[]): void {
    // Socket.IO skips its own listeners after a disconnection; so must this one (a log in now
    // would never be logged out).
    if (socket.disconnected) return;
    const last = args.at(-1);
    const ack = typeof last === "function" ? (last as (answer: AnyAnswer) => void) : undefined;
    const handler = typeof event === "string" ? this.handlers.get(event) : undefined;
    const name = handler ? (event as string) : String(event).slice(0, 64);
    const respond = (answer: AnyAnswer) => {
      if (!answer.ok) this.count(answer.error);
      if (ack) ack(answer);
      else if (!answer.ok) socket.emit(ServerEvent.ChatError, { ...answer.error, event: name });
    };
    if (!socket.data.bucket.take()) {
      this.metrics.rateLimited();
      // A flood of unknown events spends the same tokens; past the limit it is dropped unanswered.
      if (handler) respond(failure(ErrorCode.RateLimited));
      return;
    }
    // With --auth-secret, only `log in` is open to a connection that has not logged in.
    if (
      handler &&
      this.options.verifyToken &&
      !socket.data.username &&
      name !== ClientEvent.LogIn
    ) {
      respond(failure(ErrorCode.NotLoggedIn));
      return;
    }
    if (!handler) {
      const answer = failure(ErrorCode.UnknownEvent, `Unknown event: ${name}`);
      this.count(answer.error);
      // Told through the ack when there is one, and always as `chat error` (the contract's rule
      // for unknown events), so clients listening for either learn of it.
      ack?.(answer);
      socket.emit(ServerEvent.ChatError, { ...answer.error, event: name });
      return;
    }
    const payload = ack && args.length === 1 ? undefined : args[0];
    let result: Promise<AnyAnswer> | AnyAnswer;
    try {
      result = handler(socket, payload);
    } catch (error) {
      result = this.fault(name, error);
    }
    if (result instanceof Promise) {
      const answered = result.then(respond, (error) => respond(this.fault(name, error)));
      this.unanswered.add(answered);
      void answered.finally(() => this.unanswered.delete(answered));
    } else {
      respond(result);
    }
  }

  private async logIn(socket: ChatSocket, payload: unknown): Promise<AnyAnswer> {
    const checked = checkLogIn(payload);
    if (!checked.ok) return failure(checked.code, checked.message);
    const { username, since } = checked.value;
    const current = socket.data.username;
    if (current !== undefined && current !== username) return failure(ErrorCode.AlreadyLoggedIn);
    const { verifyToken } = this.options;
    let expiresAt: number | undefined;
    if (verifyToken) {
      const token = checked.value.token ?? (socket.handshake.auth as { token?: unknown })?.token;
      const verdict = await verifyToken(token, username);
      if (!verdict.ok) {
        this.options.logger.debug({ reason: verdict.reason }, "log in refused");
        return failure(ErrorCode.Unauthorized);
      }
      if (socket.disconnected) return failure(ErrorCode.Unauthorized);
      if (socket.data.username !== undefined && socket.data.username !== username) {
        return failure(ErrorCode.AlreadyLoggedIn);
      }
      expiresAt = verdict.expiresAt;
    }
    // The same name again on this connection refreshes the token; it does not replay again.
    const refresh = socket.data.username === username;
    if (!refresh && this.tooManySessions(username)) {
      return failure(ErrorCode.RateLimited, "Too many sessions for this user");
    }
    if (!refresh && this.limits.replayInProgress(socket)) {
      return failure(ErrorCode.RateLimited, "The last log in is still being answered");
    }
    if (expiresAt !== undefined) this.limits.expiry.schedule(socket, expiresAt);
    if (refresh) return { ok: true, username };
    socket.data.username = username;
    if (this.sessions.add(username, socket)) this.options.backend.addPresence(username);
    let replayed: NewMessage[];
    try {
      replayed = await this.limits.replays.run(socket, () =>
        this.options.backend.replay(username, since),
      );
    } catch (error) {
      this.leave(socket);
      if (error instanceof BackendUnavailableError) return failure(ErrorCode.Unavailable);
      throw error;
    }
    // Answer first, then the replay: "delivered right after their next log in".
    setImmediate(() => {
      if (socket.connected && socket.data.username === username) {
        this.sessions.finishReplay(socket, replayed);
      }
    });
    return { ok: true, username };
  }

  private async sendMessage(socket: ChatSocket, payload: unknown): Promise<AnyAnswer> {
    const from = socket.data.username;
    if (from === undefined) return failure(ErrorCode.NotLoggedIn);
    const checked = checkSend(payload, this.options.maxMessageBytes);
    if (!checked.ok) return failure(checked.code, checked.message);
    this.metrics.received();
    if (!this.limits.chargeStorage(from, checked.value.text)) {
      return failure(ErrorCode.RateLimited, "This user's storage allowance for today is used up");
    }
    try {
      const { to, text } = checked.value;
      const result = await this.options.backend.send(from, to, text, socket.id);
      if (result.status === "stored") this.metrics.stored();
      return { ok: true, id: result.message.id, status: result.status };
    } catch (error) {
      if (this.limits.isStorageFull(error) || error instanceof BackendUnavailableError) {
        return failure(ErrorCode.Unavailable);
      }
      throw error;
    }
  }

  private async listUsers(): Promise<AnyAnswer> {
    try {
      return { ok: true, users: await this.options.backend.listUsers(MAX_LISTED_USERS) };
    } catch (error) {
      if (error instanceof BackendUnavailableError) return failure(ErrorCode.Unavailable);
      throw error;
    }
  }

  /** Follows the presence of up to 500 users; answers with those online now. */
  private async watch(socket: ChatSocket, payload: unknown): Promise<AnyAnswer> {
    if (socket.data.username === undefined) return failure(ErrorCode.NotLoggedIn);
    const checked = checkWatch(payload, MAX_WATCH_PER_CALL);
    if (!checked.ok) return failure(checked.code, checked.message);
    const names = checked.value;
    const outcome = this.watches.add(socket, names);
    if (!outcome.ok) {
      return failure(
        ErrorCode.InvalidPayload,
        `A connection watches at most ${MAX_WATCHED_PER_CONNECTION} users`,
      );
    }
    try {
      // Every name, not only those new to this worker: the answer says who is online now.
      const online = new Set(await this.options.backend.watch(names));
      return { ok: true, online: names.filter((name) => online.has(name)) };
    } catch (error) {
      // Nothing changed after all: what this call added goes again.
      this.unwatchHere(this.watches.remove(socket, outcome.added));
      if (error instanceof BackendUnavailableError) return failure(ErrorCode.Unavailable);
      throw error;
    }
  }

  private unwatch(socket: ChatSocket, payload: unknown): AnyAnswer {
    if (socket.data.username === undefined) return failure(ErrorCode.NotLoggedIn);
    const checked = checkWatch(payload, MAX_WATCH_PER_CALL);
    if (!checked.ok) return failure(checked.code, checked.message);
    this.unwatchHere(this.watches.remove(socket, checked.value));
    return { ok: true };
  }

  /** A hint relayed to the recipient's sessions; never stored, so always `ok`. */
  private typing(socket: ChatSocket, payload: unknown): AnyAnswer {
    const from = socket.data.username;
    if (from === undefined) return failure(ErrorCode.NotLoggedIn);
    const checked = checkTyping(payload);
    if (!checked.ok) return failure(checked.code, checked.message);
    this.options.backend.typing(from, checked.value);
    return { ok: true };
  }

  private unwatchHere(users: string[]): void {
    if (users.length > 0) this.options.backend.unwatch(users);
  }

  private logOut(socket: ChatSocket): AnyAnswer {
    this.leave(socket);
    return { ok: true };
  }

  private leave(socket: ChatSocket): void {
    const username = socket.data.username;
    if (username === undefined) return;
    socket.data.username = undefined;
    this.limits.expiry.cancel(socket);
    // Watches belong to the logged-in user: they end with the session.
    this.unwatchHere(this.watches.drop(socket));
    if (this.sessions.remove(username, socket)) this.options.backend.removePresence(username);
  }

  /** Whether `username` already has as many sessions here as one user may (and counts it). */
  private tooManySessions(username: string): boolean {
    return this.limits.tooManySessions(this.sessions.count(username));
  }

  /** The session's token expired without a refresh: tell the client, then disconnect it. */
  private expire(socket: ChatSocket): void {
    if (socket.disconnected || socket.data.username === undefined) return;
    const message = "The token has expired; log in again with a fresh one";
    socket.emit(ServerEvent.ChatError, { code: ErrorCode.Unauthorized, message, event: "log in" });
    this.leave(socket);
    socket.disconnect(true);
  }

  private count(error: ChatErrorBody): void {
    this.metrics.error(error.code);
  }

  /** A server fault: logged with its stack, reported to the client without detail. */
  private fault(event: string, error: unknown): AnyAnswer {
    this.options.logger.error({ err: error, event }, "handler failed");
    return failure(ErrorCode.Unavailable, "Internal error; try again");
  }
}
