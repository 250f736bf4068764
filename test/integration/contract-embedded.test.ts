import { startChatServer } from "../helpers/chat-server.js";
import { runContractSuite } from "./contract-suite.js";

runContractSuite("embedded mode, 2 workers", async () => {
  const server = await startChatServer({ workers: 2, args: ["--rate-limit", "1000"] });
  return {
    urls: [server.url, server.url],
    stop: async () => {
      await server.stop();
    },
  };
});
