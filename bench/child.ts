/**
 * Child processes of a benchmark run (servers, redis-server): started with their output kept
 * for error reports, waited for until ready, stopped with everything they started.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { connect } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { killProcesses, treeProcesses } from "./proc-stats.js";

const HOST = "127.0.0.1";

export interface Child {
  process: ChildProcess;
  output(): string;
  running(): boolean;
  stop(): Promise<void>;
}

export function startChild(command: string, args: string[]): Child {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    lines.push(...chunk.toString("utf8").split("\n").filter(Boolean));
    lines.splice(0, Math.max(0, lines.length - 40));
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  child.on("error", (error) => lines.push(`${command}: ${error.message}`));
  const exited = once(child, "exit");
  const running = () => child.exitCode === null && child.signalCode === null && !!child.pid;
  return {
    process: child,
    output: () => lines.join("\n"),
    running,
    async stop() {
      if (!running() || child.pid === undefined) return;
      const tree = treeProcesses(child.pid);
      child.kill("SIGTERM");
      const timer = setTimeout(() => killProcesses(tree), 8000);
      await exited;
      clearTimeout(timer);
      killProcesses(tree); // workers left behind by a primary that died abruptly
    },
  };
}

export async function waitUntil(
  what: string,
  child: Child,
  ready: () => Promise<boolean>,
  ms: number,
) {
  const deadline = Date.now() + ms;
  while (!(await ready())) {
    if (!child.running()) throw new Error(`${what} exited before it was ready:\n${child.output()}`);
    if (Date.now() > deadline) throw new Error(`${what} not ready within ${ms} ms`);
    await sleep(100);
  }
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, HOST);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
