/**
 * Load-generator child processes, driven over IPC by the benchmark process.
 *
 * One Node process cannot both emit thousands of messages a second and time their arrival
 * without becoming the bottleneck it measures, and it can hold only so many sockets (the fd
 * limit), so the clients of a scenario are spread over several forked generators. Each reply
 * from a generator is an object with a `type`; `collect(type)` waits for one from every child.
 */
import { type ChildProcess, fork } from "node:child_process";

export interface Message {
  type: string;
}

export class GeneratorPool<Command extends Message, Reply extends Message> {
  private readonly children: ChildProcess[];
  private readonly inbox: Reply[][];
  private readonly waiters = new Set<() => void>();
  private failure: Error | undefined;
  private closing = false;

  constructor(script: string, count: number) {
    this.children = [];
    this.inbox = [];
    for (let i = 0; i < count; i++) {
      const child = fork(script, [String(i)], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
      const queue: Reply[] = [];
      this.children.push(child);
      this.inbox.push(queue);
      child.on("message", (message) => {
        queue.push(message as Reply);
        this.wake();
      });
      child.on("exit", (code, signal) => {
        if (this.closing) return;
        this.failure ??= new Error(`load generator ${i} exited (${signal ?? code})`);
        this.wake();
      });
    }
  }

  get size(): number {
    return this.children.length;
  }

  send(index: number, message: Command): void {
    this.children[index]?.send(message);
  }

  broadcast(message: Command): void {
    for (const child of this.children) child.send(message);
  }

  /** For each child, its newest queued reply of `type` (all of that type are taken). */
  latest<T extends Reply>(type: T["type"]): (T | undefined)[] {
    return this.inbox.map((queue) => {
      let newest: T | undefined;
      for (let i = 0; i < queue.length; ) {
        if (queue[i]?.type === type) newest = queue.splice(i, 1)[0] as T;
        else i++;
      }
      return newest;
    });
  }

  /** Waits for one reply of `type` from every child (in child order), or rejects on timeout. */
  async collect<T extends Reply>(type: T["type"], timeoutMs: number): Promise<T[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.failure) throw this.failure;
      const found = this.inbox.map((queue) => queue.findIndex((reply) => reply.type === type));
      if (found.every((index) => index >= 0)) {
        return found.map((index, child) => this.inbox[child]?.splice(index, 1)[0] as T);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`load generators: no "${type}" within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, Math.min(left, 1000));
        this.waiters.add(done);
      });
    }
  }

  private wake(): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const wake of waiters) wake();
  }

  /** Asks every child to exit, and kills those still running after `graceMs`. */
  async close(graceMs = 5000): Promise<void> {
    this.closing = true;
    const exits = this.children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once("exit", () => resolve());
          if (child.connected) child.send({ type: "close" });
          else child.kill("SIGTERM");
        }),
    );
    const timer = setTimeout(() => {
      for (const child of this.children) if (child.exitCode === null) child.kill("SIGKILL");
    }, graceMs);
    await Promise.all(exits);
    clearTimeout(timer);
  }
}
