import { esc } from './html.js';
import { SCHEDULE_SECONDS } from './site-view.js';

export interface FreshnessSample {
  readonly at: Date;
  readonly freshness_seconds: number | null;
}

/** Samples further apart than this are not joined by a line (the agent was away). */
const GAP_MS = 30 * 60_000;

/**
 * The site's freshness over the last 7 days as an inline SVG, drawn on the server (no script, no
 * CDN): minutes since the oldest last successful read, against the 10-minute schedule.
 */
export function freshnessChart(samples: readonly FreshnessSample[], now: Date): string {
  const width = 760;
  const height = 220;
  const left = 52;
  const right = 12;
  const top = 14;
  const bottom = 34;
  const from = now.getTime() - 7 * 86_400_000;
  const values = samples
    .filter((s) => s.freshness_seconds !== null)
    .map((s) => (s.freshness_seconds as number) / 60);
  const peak = Math.max(20, ...values);
  const yMax = peak <= 30 ? 30 : peak <= 60 ? 60 : Math.ceil(peak / 60) * 60;
  const x = (t: number) => left + ((t - from) / (now.getTime() - from)) * (width - left - right);
  const y = (minutes: number) => top + (1 - Math.min(minutes, yMax) / yMax) * (height - top - bottom);
  const parts: string[] = [];
  for (let d = 0; d <= 7; d += 1) {
    const t = from + d * 86_400_000;
    parts.push(
      `<line x1="${x(t).toFixed(1)}" y1="${top}" x2="${x(t).toFixed(1)}" y2="${height - bottom}" stroke="#eaeef2"/>`,
    );
    if (d < 7) {
      const label = new Date(t + 43_200_000).toISOString().slice(5, 10);
      parts.push(
        `<text x="${x(t + 43_200_000).toFixed(1)}" y="${height - bottom + 16}" text-anchor="middle" font-size="11" fill="#57606a">${label}</text>`,
      );
    }
  }
  for (const m of [0, yMax / 2, yMax]) {
    parts.push(
      `<line x1="${left}" y1="${y(m).toFixed(1)}" x2="${width - right}" y2="${y(m).toFixed(1)}" stroke="#eaeef2"/>`,
      `<text x="${left - 6}" y="${(y(m) + 4).toFixed(1)}" text-anchor="end" font-size="11" fill="#57606a">${m} min</text>`,
    );
  }
  const schedule = SCHEDULE_SECONDS / 60;
  parts.push(
    `<line x1="${left}" y1="${y(schedule).toFixed(1)}" x2="${width - right}" y2="${y(schedule).toFixed(1)}" stroke="#9a6700" stroke-dasharray="5 4"/>`,
    `<text x="${width - right - 4}" y="${(y(schedule) - 4).toFixed(1)}" text-anchor="end" font-size="11" fill="#9a6700">10-minute schedule</text>`,
  );
  let run: string[] = [];
  let last = -Infinity;
  const flush = () => {
    if (run.length > 1)
      parts.push(`<polyline fill="none" stroke="#0b5cad" stroke-width="2" points="${run.join(' ')}"/>`);
    run = [];
  };
  let never = 0;
  for (const s of samples) {
    const t = s.at.getTime();
    if (t < from) continue;
    if (s.freshness_seconds === null) {
      never += 1;
      flush();
      continue;
    }
    if (t - last > GAP_MS) flush();
    const point = `${x(t).toFixed(1)},${y(s.freshness_seconds / 60).toFixed(1)}`;
    run.push(point);
    parts.push(
      `<circle cx="${x(t).toFixed(1)}" cy="${y(s.freshness_seconds / 60).toFixed(1)}" r="2.5" fill="#0b5cad"/>`,
    );
    last = t;
  }
  flush();
  const worst = values.length > 0 ? Math.max(...values) : undefined;
  const summary =
    samples.length === 0
      ? 'No status reports in the last 7 days.'
      : `${samples.length} samples; worst freshness ${worst === undefined ? 'unknown' : `${Math.round(worst)} minutes`}${never > 0 ? `; ${never} samples with a stream never read` : ''}.`;
  if (samples.length === 0)
    parts.push(
      `<text x="${(width + left) / 2}" y="${height / 2}" text-anchor="middle" font-size="14" fill="#57606a">No status reports in the last 7 days</text>`,
    );
  return `<svg class="chart" role="img" aria-labelledby="fresh-title fresh-desc" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" xmlns="http://www.w3.org/2000/svg"><title id="fresh-title">Freshness over the last 7 days</title><desc id="fresh-desc">${esc(summary)}</desc>${parts.join('')}</svg>`;
}
