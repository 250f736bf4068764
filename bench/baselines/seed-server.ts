/**
 * Baseline (a): the seed article's design. One plain Socket.IO process; who is online is an
 * in-memory `username -> socket.id` map; a direct message is `io.to(socketId).emit(...)`.
 * It uses one core and cannot grow past one process, but it is the cost to beat per message.
 *
 *   node dist/bench/baselines/seed-server.js --port 3000 --host 127.0.0.1
 */
import { createServer } from "node:http";
import { Server } from "socket.io";
import { attachChat } from "./handlers.js";
import { listenAndAnnounce, parseListenOptions, probeHandler } from "./listen-options.js";

const options = parseListenOptions();
const httpServer = createServer(probeHandler);
const io = new Server(httpServer);
const users = new Map<string, string>();

io.on("connection", (socket) => {
  attachChat(
    socket,
    {
      logIn: (s, username) => users.set(username, s.id),
      logOut: (s, username) => {
        if (users.get(username) === s.id) users.delete(username);
      },
      deliver(message) {
        const socketId = users.get(message.to);
        if (socketId === undefined) return "stored";
        io.to(socketId).emit("new message", message);
        return "delivered";
      },
    },
    "",
  );
});

listenAndAnnounce(httpServer, options);
