/**
 * Latency histograms (HdrHistogram, microseconds, 3 significant digits). Generators record
 * into their own and ship it compressed; the benchmark merges them and reads percentiles.
 */
import * as hdr from "hdr-histogram-js";

export type Histogram = hdr.Histogram;

export function newHistogram(): Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, numberOfSignificantValueDigits: 3 });
}

export function encode(histogram: Histogram): string {
  return hdr.encodeIntoCompressedBase64(histogram);
}

export function merge(encoded: string[]): Histogram {
  const total = newHistogram();
  for (const text of encoded) total.add(hdr.decodeFromCompressedBase64(text));
  return total;
}

/** Percentiles in milliseconds. */
export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

export function summarize(histogram: Histogram): LatencySummary {
  const ms = (us: number) => Math.round(us) / 1000;
  const empty = histogram.totalCount === 0;
  return {
    count: histogram.totalCount,
    p50: ms(histogram.getValueAtPercentile(50)),
    p90: ms(histogram.getValueAtPercentile(90)),
    p99: ms(histogram.getValueAtPercentile(99)),
    p999: ms(histogram.getValueAtPercentile(99.9)),
    max: ms(empty ? 0 : histogram.maxValue),
    mean: ms(empty ? 0 : histogram.mean),
  };
}

/**
 * The percentile curve of a histogram for charts: [percentile, milliseconds] points at
 * 0, 50, 75, 87.5, ... (halving the distance to 100% each step) up to the largest value.
 */
export function percentileCurve(histogram: Histogram): [number, number][] {
  const points: [number, number][] = [];
  if (histogram.totalCount === 0) return points;
  for (let step = 0; step <= 20; step++) {
    const percentile = 100 - 100 / 2 ** step;
    const p = step === 0 ? 0 : percentile;
    points.push([p, histogram.getValueAtPercentile(p) / 1000]);
    if (1 / 2 ** step < 1 / histogram.totalCount) break;
  }
  points.push([100, histogram.maxValue / 1000]);
  return points;
}
