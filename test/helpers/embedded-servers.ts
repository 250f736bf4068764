/**
 * Embedded-mode servers a suite's tests start on data directories of their own (with a rate
 * limit no test meets), each killed with its clients after every test: register it in the
 * suite's `describe`.
 */
import { afterEach } from "node:test";
import { type ChatServer, startChatServer } from "./chat-server.js";
import { closeAll } from "./clients.js";

export function embeddedServersPerTest() {
  /** Started and not yet stopped; a test that stops or kills one itself takes it out. */
  const servers: ChatServer[] = [];
  afterEach(async () => {
    closeAll();
    await Promise.all(servers.splice(0).map((s) => s.stop("SIGKILL")));
  });
  return {
    servers,
    async start(dataDir: string, workers = 2): Promise<ChatServer> {
      const server = await startChatServer({ workers, dataDir, args: ["--rate-limit", "10000"] });
      servers.push(server);
      return server;
    },
  };
}
