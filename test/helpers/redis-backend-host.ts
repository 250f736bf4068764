/**
 * A Redis back-end alone in a process, for tests that kill a "host" with SIGKILL.
 * Usage: node redis-backend-host.js '<options JSON>' user1 user2 …
 * Logs the users in, prints `ready`, then runs until killed.
 */
import { createRedisBackend, type RedisBackendOptions } from "../../src/routing/redis-backend.js";

const options = JSON.parse(process.argv[2] ?? "{}") as RedisBackendOptions;
const backend = createRedisBackend(options);
await backend.start();
await Promise.all(
  process.argv.slice(3).map((user) => {
    backend.addPresence(user);
    return backend.replay(user, undefined);
  }),
);
process.stdout.write("ready\n");
setInterval(() => {}, 60_000);
