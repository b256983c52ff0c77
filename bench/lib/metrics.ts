/**
 * Reads the orchestrator's Prometheus histograms (GET /metrics) and turns the difference of two
 * scrapes into quantiles, the way Prometheus' histogram_quantile does (linear within a bucket).
 * Used for what only the orchestrator can time, such as placement (`mloc_scheduler_placement_seconds`).
 */
import { TOKEN } from './orchestrator';

export interface HistogramScrape {
  /** Cumulative counts by upper bound (seconds), ascending, ending with +Inf. */
  buckets: { le: number; count: number }[];
  count: number;
  sum: number;
}

export async function scrapeMetrics(baseUrl: string): Promise<string> {
  const res = await fetch(`${baseUrl}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  if (!res.ok) throw new Error(`GET /metrics: ${res.status}`);
  return res.text();
}

export async function scrapeHistogram(baseUrl: string, name: string): Promise<HistogramScrape> {
  return parseHistogram(await scrapeMetrics(baseUrl), name);
}

/** Every sample of metric `name` (exactly that name), by its label text (`kind="major"`, or ''). */
export function samples(text: string, name: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^([^\s{]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (m && m[1] === name) out[m[2] ?? ''] = Number(m[3]);
  }
  return out;
}

export function parseHistogram(text: string, name: string): HistogramScrape {
  const out: HistogramScrape = { buckets: [], count: 0, sum: 0 };
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    const le = /^\S+_bucket\{le="([^"]+)"\}/.exec(line);
    if (le) out.buckets.push({ le: le[1] === '+Inf' ? Infinity : Number(le[1]), count: value });
    else if (line.startsWith(`${name}_count `)) out.count = value;
    else if (line.startsWith(`${name}_sum `)) out.sum = value;
  }
  out.buckets.sort((a, b) => a.le - b.le);
  return out;
}

/** Observations between two scrapes. */
export function histogramDelta(before: HistogramScrape, after: HistogramScrape): HistogramScrape {
  return {
    buckets: after.buckets.map((b, i) => ({ le: b.le, count: b.count - (before.buckets[i]?.count ?? 0) })),
    count: after.count - before.count,
    sum: after.sum - before.sum,
  };
}

/** The q-quantile in milliseconds, interpolated within its bucket; null without observations. */
export function histogramQuantileMs(h: HistogramScrape, q: number): number | null {
  if (h.count <= 0) return null;
  const rank = q * h.count;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of h.buckets) {
    if (b.count >= rank) {
      // Above the last finite bound all we know is "more than it".
      if (b.le === Infinity) return prevLe * 1000;
      const inBucket = b.count - prevCount;
      const frac = inBucket > 0 ? (rank - prevCount) / inBucket : 1;
      return (prevLe + (b.le - prevLe) * frac) * 1000;
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe * 1000;
}
