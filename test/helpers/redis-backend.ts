/**
 * Redis back-ends as test "hosts": each collects what it is asked to deliver.
 */
import { randomBytes } from "node:crypto";
import type { NewMessage } from "../../src/protocol.js";
import type { Backend } from "../../src/routing/backend.js";
import { createRedisBackend, type RedisBackendOptions } from "../../src/routing/redis-backend.js";
import { waitFor } from "./wait.js";

export interface TestHost {
  backend: Backend;
  /** Every message handed to `onDeliver`, in order. */
  received: NewMessage[];
  /** The messages delivered here for `user`. */
  to(user: string): NewMessage[];
  /** Resolves once `count` messages for `user` were delivered here. */
  waitFor(user: string, count: number, timeoutMs?: number): Promise<NewMessage[]>;
  /** Marks `user` online here and replays, as the chat handler does on log in. */
  login(user: string, since?: string): Promise<NewMessage[]>;
}

export function randomPrefix(): string {
  return `test-${randomBytes(6).toString("hex")}`;
}

type HostOptions = Omit<RedisBackendOptions, "masterName" | "workerId"> & {
  masterName?: string;
  workerId?: number | string;
};

export async function startHost(options: HostOptions): Promise<TestHost> {
  const backend = createRedisBackend({ masterName: "mymaster", workerId: 1, ...options });
  const received: NewMessage[] = [];
  backend.onDeliver(({ message }) => received.push(message));
  await backend.start();
  const to = (user: string) => received.filter((m) => m.to === user);
  return {
    backend,
    received,
    to,
    async waitFor(user, count, timeoutMs = 5000) {
      await waitFor(`${count} messages for ${user}`, () => to(user).length >= count, timeoutMs, 5);
      return to(user);
    },
    login(user, since) {
      backend.addPresence(user);
      return backend.replay(user, since);
    },
  };
}
