/**
 * Counters a target exposes on GET /metrics (Prometheus text format), summed over labels.
 * The benchmark reads them before and after the measured window, so a design's own counters
 * (e.g. IPC batches) can be shown per delivered message. Targets without /metrics give none.
 */
export type Counters = Map<string, number>;

export async function scrapeCounters(url: string): Promise<Counters | undefined> {
  try {
    const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(3000) });
    const text = await res.text();
    return res.ok ? parseCounters(text) : undefined;
  } catch {
    return undefined;
  }
}

/** `name{labels} value` lines of names ending in _total, summed per name. */
export function parseCounters(text: string): Counters {
  const counters: Counters = new Map();
  for (const line of text.split("\n")) {
    const match = /^([a-zA-Z_:][\w:]*_total)(?:\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const [, name = "", value = ""] = match;
    const n = Number(value);
    if (Number.isFinite(n)) counters.set(name, (counters.get(name) ?? 0) + n);
  }
  return counters;
}

/** after - before for each counter, divided by `per` (e.g. deliveries). */
export function countersPer(
  before: Counters | undefined,
  after: Counters | undefined,
  per: number,
): Record<string, number> {
  const result: Record<string, number> = {};
  if (!before || !after || per <= 0) return result;
  for (const [name, value] of after) result[name] = (value - (before.get(name) ?? 0)) / per;
  return result;
}
