/**
 * Baseline (c): the seed article's second design, for several hosts, with today's packages.
 * One plain Socket.IO process per host, joined by the classic `@socket.io/redis-adapter`
 * (pub/sub: every broadcast is published to every node). Presence is a Redis key:
 * `SET user:<name> <socket id>` at log in; each message does a `GET` and then
 * `io.to(socketId).emit("new message", ...)`, which the adapter sends to every node, each of
 * which decodes it and looks for the socket.
 *
 *   node dist/bench/baselines/seed-redis-server.js --port 3000 --host 127.0.0.1 \
 *     --redis redis://127.0.0.1:6379 --prefix seed
 */
import { once } from "node:events";
import { createServer } from "node:http";
import { createAdapter } from "@socket.io/redis-adapter";
import { Redis } from "ioredis";
import { Server } from "socket.io";
import { attachChat } from "./handlers.js";
import { listenAndAnnounce, parseListenOptions, probeHandler } from "./listen-options.js";

const options = parseListenOptions();
const pub = new Redis(options.redis, { keyPrefix: `${options.prefix}:` });
const sub = pub.duplicate();
await Promise.all([once(pub, "ready"), once(sub, "ready")]);

const httpServer = createServer(probeHandler);
// The adapter's channels are `<key>#/#...`; its clients must not add the key prefix (ioredis
// does not prefix channel names anyway).
const io = new Server(httpServer, { adapter: createAdapter(pub, sub, { key: options.prefix }) });

// Deletes the key only if it still names this socket (a newer log in elsewhere keeps its own).
const DELETE_IF = `if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1]) end return 0`;

io.on("connection", (socket) => {
  attachChat(
    socket,
    {
      logIn: (s, username) => {
        pub.set(`user:${username}`, s.id).catch(() => {});
      },
      logOut: (s, username) => {
        pub.eval(DELETE_IF, 1, `user:${username}`, s.id).catch(() => {});
      },
      async deliver(message) {
        const socketId = await pub.get(`user:${message.to}`);
        if (socketId === null) return "stored";
        io.to(socketId).emit("new message", message);
        return "delivered";
      },
    },
    `${options.port}-`,
  );
});

listenAndAnnounce(httpServer, options);
