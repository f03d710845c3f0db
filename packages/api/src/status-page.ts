import {
  healthOf,
  type ConnectionStatus,
  type Freshness,
  type StatusSnapshot,
  type StreamStatus,
  type SubscriptionStatus,
} from './status.js';

/** Seconds between automatic reloads of the status page. */
export const STATUS_PAGE_REFRESH_SECONDS = 15;

function escapeHtml(value: string): string {
  return value
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** A number, or "n/a" for a value Tendril does not know (never a made-up 0). */
function count(value: number | null, why = 'not known: the store could not be read'): string {
  return value === null
    ? `<span class="na" title="${escapeHtml(why)}">n/a</span>`
    : value.toLocaleString('en-US');
}

function duration(totalSeconds: number): string {
  const s = Math.max(0, Math.round(totalSeconds));
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (d > 0) return `${d} d ${h} h`;
  if (h > 0) return `${h} h ${m} min`;
  if (m > 0) return sec > 0 ? `${m} min ${sec} s` : `${m} min`;
  return `${sec} s`;
}

const UTC_TEXT = (ms: number) =>
  new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d{3}Z$/, ' UTC');

/**
 * An instant in a `<time>` element: in `timeZone` (a connection's office time) when given, with
 * the UTC time on hover (`title`), else in UTC; plus how long ago or ahead it is.
 */
function time(iso: string | undefined, now: number, timeZone?: string): string {
  if (!iso) return '<span class="na">never</span>';
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return escapeHtml(iso);
  const delta = (ms - now) / 1000;
  const relative =
    Math.abs(delta) < 1 ? 'now' : delta < 0 ? `${duration(-delta)} ago` : `in ${duration(delta)}`;
  const utc = UTC_TEXT(ms);
  const text = timeZone
    ? new Intl.DateTimeFormat('en-US', {
        timeZone,
        year: 'numeric',
        month: 'short',
        day: 'numeric',
        hour: '2-digit',
        minute: '2-digit',
        second: '2-digit',
        hourCycle: 'h23',
        timeZoneName: 'short',
      }).format(new Date(ms))
    : utc;
  return `<time datetime="${escapeHtml(new Date(ms).toISOString())}" title="${escapeHtml(utc)}">${escapeHtml(text)}</time> <span class="rel">(${relative})</span>`;
}

function badge(kind: 'ok' | 'warn' | 'bad' | 'idle', text: string): string {
  return `<span class="badge ${kind}">${escapeHtml(text)}</span>`;
}

function streamBadge(s: StreamStatus): string {
  const parts: string[] = [];
  switch (s.status) {
    case 'healthy':
      parts.push(badge('ok', 'healthy'));
      break;
    case 'unhealthy':
      parts.push(badge('bad', 'unhealthy'));
      break;
    case 'unknown':
      parts.push(badge('idle', 'not polled yet'));
      break;
    default:
      s.status satisfies never;
  }
  if (s.stale) parts.push(badge('warn', 'stale'));
  return parts.join(' ');
}

function freshnessBadge(f: Freshness): string {
  switch (f.state) {
    case 'fresh':
      return badge('ok', 'fresh');
    case 'late':
      return badge('warn', 'late');
    case 'stale':
      return badge('bad', 'stale');
    case 'never':
      return badge('idle', 'not read yet');
    default:
      return f.state satisfies never;
  }
}

/** The last successful read in the office's time (UTC on hover), its age, and the schedule it is held to. */
function freshnessCell(f: Freshness, now: number, timeZone: string): string {
  const every = `every ${duration(f.expectedEverySeconds)}`;
  if (!f.lastReadAt) return `${freshnessBadge(f)}<div class="sub">read ${escapeHtml(every)}</div>`;
  return `${freshnessBadge(f)} ${time(f.lastReadAt, now, timeZone)}<div class="sub">${
    f.ageSeconds === null ? '' : `${escapeHtml(duration(f.ageSeconds))} old; `
  }read ${escapeHtml(every)}</div>`;
}

function streamRow(s: StreamStatus, now: number, timeZone: string): string {
  const run = s.lastRun;
  const counts = run
    ? `${run.counts.read.toLocaleString('en-US')} / ${run.counts.created.toLocaleString('en-US')} / ${run.counts.updated.toLocaleString('en-US')} / ${run.counts.deleted.toLocaleString('en-US')} / ${run.counts.unchanged.toLocaleString('en-US')}`
    : '<span class="na">no run yet</span>';
  const extra = run
    ? [
        run.counts.quarantined ? `${run.counts.quarantined.toLocaleString('en-US')} quarantined` : '',
        run.counts.warnings ? `${run.counts.warnings.toLocaleString('en-US')} values dropped (warnings)` : '',
      ].filter(Boolean)
    : [];
  const runLabel = run
    ? `<div class="sub">${escapeHtml([run.kind, run.status, ...extra].join(', '))}</div>`
    : '';
  const error = s.lastError
    ? `<code>${escapeHtml(s.lastError.code)}</code> ${escapeHtml(s.lastError.message)}<div class="sub">${time(s.lastError.at, now, timeZone)}</div>`
    : '<span class="na">none</span>';
  const retry = s.nextRetryAt ? time(s.nextRetryAt, now, timeZone) : '<span class="na">—</span>';
  return `<tr data-stream="${escapeHtml(s.stream)}">
  <th scope="row">${escapeHtml(s.stream)}${s.mode ? `<div class="sub">${escapeHtml(s.mode)}</div>` : ''}${s.verification ? `<div class="sub">${escapeHtml(s.verification)}</div>` : ''}</th>
  <td>${streamBadge(s)}</td>
  <td data-metric="freshness">${freshnessCell(s.freshness, now, timeZone)}</td>
  <td class="num" data-metric="live">${count(s.liveRecords)}</td>
  <td class="num" data-metric="last-run">${counts}${runLabel}</td>
  <td class="num" data-metric="quarantined">${count(s.quarantined, QUARANTINE_NOT_YET)}</td>
  <td class="num">${s.consecutiveFailures}</td>
  <td>${retry}</td>
  <td class="err">${error}</td>
</tr>`;
}

/** Why the quarantine count is "n/a": the store could not count it (docs/quarantine.md). */
const QUARANTINE_NOT_YET = 'the store could not be read: quarantined rows not counted';

function connectionSection(c: ConnectionStatus, now: number): string {
  const tz = c.timezone;
  const facts: [string, string][] = [
    ['Connector', escapeHtml(c.connector)],
    ['Time zone (times below)', escapeHtml(tz)],
    ['Next poll', time(c.nextPollAt, now, tz)],
    [
      'Poll interval',
      `${escapeHtml(duration(c.pollIntervalSeconds))} (offset ${escapeHtml(duration(c.offsetSeconds))})`,
    ],
    ['Next nightly', time(c.nextNightlyAt, now, tz)],
    ['Last nightly', time(c.lastNightlyAt, now, tz)],
    ['Running now', c.running.length ? escapeHtml(c.running.join(', ')) : '<span class="na">nothing</span>'],
    ['Outbox events', `<span data-metric="outbox-events">${count(c.outbox.events)}</span>`],
    [
      'Outbox depth (undelivered)',
      `<span data-metric="outbox-undelivered">${count(c.outbox.undelivered)}</span>`,
    ],
    ['Dead letters', `<span data-metric="dead-letters">${count(c.deadLetters)}</span>`],
    ['Pending writebacks', `<span data-metric="pending-writebacks">${count(c.pendingWritebacks)}</span>`],
    [
      'Quarantined rows',
      `<span data-metric="quarantined">${count(c.quarantined, QUARANTINE_NOT_YET)}</span>`,
    ],
    ['Skipped ticks', String(c.skippedTicks)],
  ];
  const scripts = c.scripts.length
    ? `<h3>Nightly scripts</h3><ul>${c.scripts
        .map(
          (s) =>
            `<li><strong>${escapeHtml(s.name)}</strong> → element <code>${escapeHtml(s.element)}</code>: last run ${time(s.lastRunAt, now, tz)}${
              s.lastError
                ? `, error <code>${escapeHtml(s.lastError.code)}</code> ${escapeHtml(s.lastError.message)}`
                : ''
            }</li>`,
        )
        .join('')}</ul>`
    : '';
  const headingId = `conn-${c.id}`;
  return `<section aria-labelledby="${escapeHtml(headingId)}" data-connection="${escapeHtml(c.id)}">
<h2 id="${escapeHtml(headingId)}">Connection <code>${escapeHtml(c.id)}</code></h2>
<dl class="facts">${facts.map(([k, v]) => `<div><dt>${escapeHtml(k)}</dt><dd>${v}</dd></div>`).join('')}</dl>
<div class="scroll"><table>
<caption>Streams of ${escapeHtml(c.id)}. Times in ${escapeHtml(tz)} (hover for UTC). Last run rows: read / created / updated / deleted / unchanged.</caption>
<thead><tr><th scope="col">Stream</th><th scope="col">Health</th><th scope="col">Last successful read</th><th scope="col">Live records</th><th scope="col">Last run rows</th><th scope="col">Quarantined</th><th scope="col">Failures in a row</th><th scope="col">Next retry</th><th scope="col">Last error</th></tr></thead>
<tbody>
${c.streams.map((s) => streamRow(s, now, tz)).join('\n')}
</tbody>
</table></div>
${scripts}
</section>`;
}

function subscriptionBadge(s: SubscriptionStatus): string {
  if (!s.enabled) return badge('idle', 'disabled in the config');
  switch (s.state) {
    case 'active':
      return badge('ok', 'active');
    case 'unreachable':
      return badge('warn', 'unreachable');
    case 'paused':
      return badge('bad', 'paused');
    case 'disabled':
      return badge('bad', 'disabled');
    default:
      return s.state satisfies never;
  }
}

function subscriptionsSection(subscriptions: readonly SubscriptionStatus[], now: number): string {
  if (subscriptions.length === 0) return '';
  return `<section aria-labelledby="subscriptions" data-section="subscriptions">
<h2 id="subscriptions">Webhook subscriptions</h2>
<div class="scroll"><table>
<thead><tr><th scope="col">Subscription</th><th scope="col">State</th><th scope="col">Since</th><th scope="col">Pending</th><th scope="col">Dead letters</th><th scope="col">Reason</th></tr></thead>
<tbody>
${subscriptions
  .map(
    (s) => `<tr data-subscription="${escapeHtml(s.id)}">
  <th scope="row"><code>${escapeHtml(s.id)}</code></th>
  <td>${subscriptionBadge(s)}</td>
  <td>${s.since ? time(s.since, now) : '<span class="na">—</span>'}</td>
  <td class="num" data-metric="pending">${count(s.pending)}</td>
  <td class="num" data-metric="dead">${count(s.dead)}</td>
  <td>${s.reason ? escapeHtml(s.reason) : '<span class="na">—</span>'}</td>
</tr>`,
  )
  .join('\n')}
</tbody>
</table></div>
</section>`;
}

const STYLE = `
:root { color-scheme: light; --fg:#1b1f24; --muted:#57606a; --line:#d0d7de; --ok:#116329; --okbg:#dafbe1; --warn:#7d4e00; --warnbg:#fff8c5; --bad:#a40e26; --badbg:#ffebe9; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); margin: 0; background: #f6f8fa; }
header, main, footer { max-width: 1200px; margin: 0 auto; padding: 16px 20px; }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 12px 24px; }
h1 { font-size: 1.5rem; margin: 0; }
h2 { font-size: 1.2rem; margin: 0 0 12px; }
h3 { font-size: 1rem; margin: 16px 0 6px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px; margin-bottom: 20px; }
.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(230px, 1fr)); gap: 8px 20px; margin: 0 0 16px; }
.facts dt { color: var(--muted); font-size: .85rem; }
.facts dd { margin: 0; font-weight: 600; }
.agent { display: flex; flex-wrap: wrap; gap: 6px 20px; margin: 0; }
.agent div { display: flex; gap: 6px; } .agent dt { color: var(--muted); } .agent dd { margin: 0; font-weight: 600; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
caption { text-align: left; color: var(--muted); font-size: .85rem; padding-bottom: 6px; }
th, td { text-align: left; vertical-align: top; padding: 6px 8px; border-top: 1px solid var(--line); }
thead th { border-top: 0; font-size: .85rem; color: var(--muted); }
td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
td.err { max-width: 360px; }
.sub, .rel { color: var(--muted); font-size: .8rem; font-weight: 400; }
.na { color: var(--muted); font-weight: 400; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: .8rem; font-weight: 600; border: 1px solid currentColor; }
.badge.ok { color: var(--ok); background: var(--okbg); } .badge.warn { color: var(--warn); background: var(--warnbg); }
.badge.bad { color: var(--bad); background: var(--badbg); } .badge.idle { color: var(--muted); background: #f6f8fa; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .9em; }
ul.problems { margin: 0; padding-left: 20px; }
footer { color: var(--muted); font-size: .85rem; }
`;

/**
 * The local status page (`GET /`): one self-contained HTML document (inline CSS, no scripts, no
 * external assets, no favicon request), reloaded every {@link STATUS_PAGE_REFRESH_SECONDS} s by a
 * meta refresh. Health is written out as text, never shown by colour alone.
 */
/** Bytes as a reader takes them in: 0 B, 12.3 kB, 193.0 MB (powers of 1000). */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB'] as const;
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

export function renderStatusPage(snapshot: StatusSnapshot): string {
  const now = Date.parse(snapshot.generatedAt);
  const verdict = healthOf(snapshot);
  const overall =
    verdict.status === 'ok'
      ? badge('ok', 'ok')
      : verdict.status === 'degraded'
        ? badge('warn', 'degraded')
        : badge('bad', 'down');
  const a = snapshot.agent;
  const deliveryProblems =
    a.subscriptions.filter((s) => s.enabled && s.state !== 'active').length + (a.deliveries.dead ? 1 : 0);
  const agentFacts: [string, string][] = [
    ['Health', overall],
    ['Uptime', `<span data-metric="uptime">${escapeHtml(duration(a.uptimeSeconds))}</span>`],
    ['Started', time(a.startedAt, now)],
    ['State', escapeHtml(a.state)],
    ['Version', escapeHtml(a.version)],
    ...(a.lastUpgrade
      ? [
          [
            'Last upgrade',
            `${a.lastUpgrade.outcome === 'upgraded' ? badge('ok', 'upgraded') : badge('bad', 'upgrade failed')} ${escapeHtml(a.lastUpgrade.fromVersion)} → ${escapeHtml(a.lastUpgrade.toVersion)}, ${time(a.lastUpgrade.at, now)}${a.lastUpgrade.reason ? `: ${escapeHtml(a.lastUpgrade.reason)}` : ''}`,
          ] as [string, string],
        ]
      : []),
    ['PID', String(a.pid)],
    [
      'Delivery',
      a.delivery !== 'running'
        ? '<span class="na">not running in this process</span>'
        : deliveryProblems > 0
          ? `${badge('warn', 'needs attention')} ${a.deliveries.subscriptions} subscription${a.deliveries.subscriptions === 1 ? '' : 's'} (see Problems)`
          : `running, ${a.deliveries.subscriptions} subscription${a.deliveries.subscriptions === 1 ? '' : 's'}`,
    ],
    ['Deliveries pending', `<span data-metric="deliveries-pending">${count(a.deliveries.pending)}</span>`],
    [
      'Dead letters (all subscriptions)',
      `<span data-metric="deliveries-dead">${count(a.deliveries.dead)}</span>`,
    ],
    [
      'Writeback worker',
      a.writebackWorker === 'running' ? 'running' : '<span class="na">not running in this process</span>',
    ],
    [
      'Store',
      snapshot.store.ok
        ? 'ok'
        : `failing: <code>${escapeHtml(snapshot.store.error?.code ?? 'unknown')}</code>`,
    ],
    [
      'Store encryption',
      snapshot.store.encryption === 'site-key'
        ? '<span data-metric="store-encryption">encrypted at rest with the site key</span>'
        : snapshot.store.encryption === 'none'
          ? `${badge('warn', 'not encrypted')} <span data-metric="store-encryption">no site key: patient data is stored in plain text</span>`
          : '<span class="na">n/a</span>',
    ],
    [
      'Store size',
      `<span data-metric="store-size">${snapshot.store.sizeBytes === undefined || snapshot.store.sizeBytes === null ? 'n/a' : formatBytes(snapshot.store.sizeBytes)}</span>`,
    ],
  ];
  const problems = verdict.problems.length
    ? `<section aria-labelledby="problems"><h2 id="problems">Problems</h2><ul class="problems">${verdict.problems.map((p) => `<li>${escapeHtml(p)}</li>`).join('')}</ul></section>`
    : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="${STATUS_PAGE_REFRESH_SECONDS}">
<link rel="icon" href="data:,">
<title>Tendril agent status: ${escapeHtml(verdict.status)}</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>Tendril agent</h1>
<dl class="agent">${agentFacts.map(([k, v]) => `<div><dt>${escapeHtml(k)}</dt><dd>${v}</dd></div>`).join('')}</dl>
</header>
<main>
${problems}
${subscriptionsSection(a.subscriptions, now)}
${snapshot.connections.map((c) => connectionSection(c, now)).join('\n')}
</main>
<footer>Generated ${time(snapshot.generatedAt, now)}; this page reloads every ${STATUS_PAGE_REFRESH_SECONDS} s. Times in the header are UTC. Machine-readable: <a href="/v1/status">/v1/status</a>, <a href="/healthz">/healthz</a>, <a href="/readyz">/readyz</a>, <a href="/metrics">/metrics</a>.</footer>
</body>
</html>
`;
}
