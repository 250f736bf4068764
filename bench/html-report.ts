/**
 * `--html FILE`: a self-contained page (inline SVG, no scripts, no network) with the latency
 * distribution of every run side by side, and the same tables as the terminal report.
 */
import { type Histogram, merge, percentileCurve } from "./latency.js";
import { type RunFailure, renderText } from "./report.js";
import type { ScenarioResult } from "./results.js";

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf"];
const ENTITIES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" };
const esc = (text: string) => text.replace(/[&<>"]/g, (c) => ENTITIES[c] ?? c);

interface Series {
  label: string;
  color: string;
  histogram: Histogram;
}

/** Log-scale ticks (1, 2, 5 x 10^n) covering [lo, hi]. */
function logTicks(lo: number, hi: number): number[] {
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= lo && v <= hi) ticks.push(v);
    }
  }
  return ticks;
}

function range(series: Series[]): [number, number] {
  const values = series.flatMap((s) => percentileCurve(s.histogram).map(([, ms]) => ms));
  const lo = Math.max(0.01, Math.min(...values.filter((v) => v > 0)) * 0.8);
  const hi = Math.max(lo * 10, Math.max(...values) * 1.2);
  return [lo, hi];
}

/** Latency by percentile, every run on one chart (x: 0% .. 99.99%, log of 1/(1-p)). */
function percentileChart(series: Series[], title: string): string {
  const [w, h, left, bottom, right] = [660, 320, 60, 40, 40];
  const [lo, hi] = range(series);
  const maxX = 4; // 99.99%
  const x = (p: number) =>
    left + (Math.min(maxX, -Math.log10(1 - Math.min(p, 99.999) / 100)) / maxX) * (w - left - right);
  const y = (ms: number) =>
    h -
    bottom -
    ((Math.log10(Math.max(ms, lo)) - Math.log10(lo)) / Math.log10(hi / lo)) * (h - bottom - 20);
  const parts: string[] = [];
  for (const [p, label] of [
    [0, "0%"],
    [90, "90%"],
    [99, "99%"],
    [99.9, "99.9%"],
    [99.99, "99.99%"],
  ] as const) {
    parts.push(`<line x1="${x(p)}" x2="${x(p)}" y1="20" y2="${h - bottom}" class="grid"/>`);
    parts.push(`<text x="${x(p)}" y="${h - bottom + 16}" text-anchor="middle">${label}</text>`);
  }
  for (const v of logTicks(lo, hi)) {
    parts.push(`<line x1="${left}" x2="${w - right}" y1="${y(v)}" y2="${y(v)}" class="grid"/>`);
    parts.push(`<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${v}</text>`);
  }
  series.forEach((s, i) => {
    const points = percentileCurve(s.histogram)
      .map(([p, ms]) => `${x(p).toFixed(1)},${y(ms).toFixed(1)}`)
      .join(" ");
    parts.push(`<polyline points="${points}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    parts.push(
      `<rect x="${left + 10}" y="${24 + i * 16}" width="12" height="4" fill="${s.color}"/>`,
    );
    parts.push(`<text x="${left + 28}" y="${30 + i * 16}">${esc(s.label)}</text>`);
  });
  parts.push(`<text x="${w / 2}" y="${h - 6}" text-anchor="middle">percentile</text>`);
  parts.push(
    `<text x="14" y="${h / 2}" transform="rotate(-90 14 ${h / 2})" text-anchor="middle">ms (log)</text>`,
  );
  return `<figure><figcaption>${esc(title)}</figcaption><svg viewBox="0 0 ${w} ${h}" width="${w}" height="${h}">${parts.join("")}</svg></figure>`;
}

/**
 * One small histogram per run, same log-scale x axis, side by side: the share of messages in
 * each latency bucket (estimated from 1,000 evenly spaced percentiles).
 */
function distributionPanels(series: Series[], lo: number, hi: number): string {
  const [w, h, bottom, buckets] = [240, 150, 30, 30];
  const edge = (i: number) => lo * (hi / lo) ** (i / buckets);
  const panels = series.map((s) => {
    const shares = new Array<number>(buckets).fill(0);
    for (let i = 0; i < 1000; i++) {
      const ms = s.histogram.getValueAtPercentile((i + 0.5) / 10) / 1000;
      const b = Math.floor(
        (Math.log(Math.max(ms, lo)) - Math.log(lo)) / (Math.log(hi / lo) / buckets),
      );
      const bucket = Math.min(buckets - 1, Math.max(0, b));
      shares[bucket] = (shares[bucket] ?? 0) + 0.1;
    }
    const top = Math.max(...shares, 1);
    const bw = (w - 20) / buckets;
    const bars = shares
      .map((share, i) => {
        const bh = (share / top) * (h - bottom - 20);
        return `<rect x="${10 + i * bw}" y="${h - bottom - bh}" width="${bw - 1}" height="${bh}" fill="${s.color}"><title>${edge(i).toFixed(2)}-${edge(i + 1).toFixed(2)} ms: ${share.toFixed(1)}%</title></rect>`;
      })
      .join("");
    const ticks = logTicks(lo, hi)
      .filter((v) => /^[15]/.test(String(v)))
      .map((v) => {
        const tx = 10 + (Math.log(v / lo) / Math.log(hi / lo)) * (w - 20);
        return `<text x="${tx}" y="${h - bottom + 14}" text-anchor="middle">${v}</text>`;
      })
      .join("");
    return `<figure><figcaption>${esc(s.label)}</figcaption><svg viewBox="0 0 ${w} ${h}" width="${w}" height="${h}">${bars}${ticks}<text x="${w / 2}" y="${h - 4}" text-anchor="middle">ms (log)</text></svg></figure>`;
  });
  const caption = "<p>Share of samples per latency bucket (same buckets for every run):</p>";
  return `${caption}<div class="row">${panels.join("")}</div>`;
}

function section(results: ScenarioResult[], title: string, what: string): string {
  if (results.length === 0) return "";
  const series = results.map((r, i) => ({
    label: r.label,
    color: COLORS[i % COLORS.length] as string,
    histogram: merge([r.histogram]),
  }));
  const [lo, hi] = range(series);
  return `<h2>${esc(title)}</h2>${percentileChart(series, `${what} by percentile`)}${distributionPanels(series, lo, hi)}`;
}

export function renderHtml(
  results: ScenarioResult[],
  failures: RunFailure[],
  machine: { cpus: number; cpuModel: string; node: string },
): string {
  const dm = results.filter((r) => r.scenario === "dm");
  const conns = results.filter((r) => r.scenario === "connections");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>chat-server benchmark</title>
<style>
body{font:14px system-ui,sans-serif;margin:2em;color:#222}
pre{background:#f6f6f6;padding:1em;overflow-x:auto}
svg text{font:11px system-ui,sans-serif;fill:#444}
.grid{stroke:#ddd}
.row{display:flex;flex-wrap:wrap;gap:1em}
figure{margin:0 0 1em}
figcaption{font-weight:600;margin-bottom:.3em}
</style></head><body>
<h1>chat-server benchmark</h1>
<p>${esc(`${machine.cpus} x ${machine.cpuModel}, Node ${machine.node}, ${new Date().toISOString()}`)}</p>
${section(dm, "Direct messages: delivery latency", "Delivery latency")}
${section(conns, "Connections: time to connect and log in", "Connect + log-in time")}
<h2>Figures</h2>
<pre>${esc(renderText(results, failures))}</pre>
</body></html>
`;
}
