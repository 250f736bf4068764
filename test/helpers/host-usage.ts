/**
 * What a running chat-server host holds, read from /proc: resident memory and open file
 * descriptors of the primary and its workers together, and its Prometheus metrics.
 */

import { readdirSync, readFileSync } from "node:fs";
import type { ChatServer } from "./chat-server.js";
import { NotYet } from "./wait.js";

function pids(server: ChatServer): number[] {
  return [server.proc.pid ?? 0, ...server.workerPids()].filter((pid) => pid > 0);
}

/** The host's resident memory in MB: the primary's and every worker's VmRSS summed. */
export function hostRssMb(server: ChatServer): number {
  let kb = 0;
  for (const pid of pids(server)) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      kb += Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    } catch {
      // a worker that has exited holds nothing
    }
  }
  return kb / 1024;
}

/** Open file descriptors of the primary alone (it accepts every connection). */
export function primaryFds(server: ChatServer): number {
  return readdirSync(`/proc/${server.proc.pid}/fd`).length;
}

/** One sample of /metrics: `name{labels}` to value. */
export async function scrapeMetrics(url: string): Promise<Map<string, number>> {
  const res = await fetch(`${url}/metrics`);
  // 429: this address is still over its connection limit (the test's own attack): not yet.
  if (res.status === 429) throw new NotYet("/metrics answered 429");
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  return parseMetrics(await res.text());
}

/** Prometheus text: `name{labels}` to value, comments left out. */
export function parseMetrics(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    values.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return values;
}

/** How often the host stopped something at `limit` (`chat_limit_hits_total`). */
export async function limitHits(url: string, limit: string): Promise<number> {
  return (await scrapeMetrics(url)).get(`chat_limit_hits_total{limit="${limit}"}`) ?? 0;
}
