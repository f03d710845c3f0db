import { tokensMatch } from '../credentials.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { AdminHooks } from '../admin.js';
import type { HubContext } from '../hub-context.js';
import {
  REMOTE_COMMANDS,
  MAX_LOG_LINES,
  type RemoteCommandArgs,
  type RemoteCommandName,
} from '../link/protocol.js';
import { ReleaseStore } from '../store/releases.js';
import type { RemoteCommandRecord } from '../store/commands.js';
import { SITE_SORTS, type ConsoleSession, type SiteSort } from '../store/console-store.js';
import type { SiteRecord } from '../store/sites.js';
import { freshnessChart } from './chart.js';
import { CONSOLE_CSS, html, page, raw, when, type Html, type PageUser } from './html.js';
import { LoginLimiter } from './login-limiter.js';
import { unseal } from './secret-box.js';
import {
  connectionsOf,
  duration,
  plainError,
  quarantinedOf,
  SCHEDULE_SECONDS,
  worstStream,
} from './site-view.js';
import { matchTotp } from './totp.js';

export interface ConsoleOptions {
  /** Connector ids offered in the enrollment form (the agent's registry). */
  readonly connectors: readonly string[];
  readonly runCommand: AdminHooks['runCommand'];
}

const PAGE_SIZE = 50;

const COMMAND_WORDS: Record<RemoteCommandName, { title: string; button: string; explain: string }> = {
  restart: {
    title: 'Restart the agent',
    button: 'Yes, restart the agent',
    explain:
      'The agent’s supervisor stops the agent process and starts a fresh one. Polls pause for a few seconds and resume where they were.',
  },
  'reload-config': {
    title: 'Reload the configuration',
    button: 'Yes, reload the configuration',
    explain:
      'The agent re-reads its own tendril.yaml at the practice. A file with problems is refused (every problem is listed) and the agent goes on as it is; a good file is applied by a restart.',
  },
  logs: {
    title: 'Fetch the agent’s logs',
    button: 'Fetch the logs',
    explain: 'The newest lines the agent logged; the agent has already removed patient data from them.',
  },
  'support-bundle': {
    title: 'Download a support bundle',
    button: 'Build the support bundle',
    explain:
      'Schema metadata only (tables, columns, types), as tendril discover builds it; never a row of data.',
  },
  upgrade: {
    title: 'Upgrade to a version',
    button: 'Yes, upgrade the agent',
    explain:
      'The agent downloads the release from this hub, checks its SHA-256 and signature, installs it beside the running version and switches; if the new version is not healthy in time it goes back to the old one. The outcome appears in the command history below and, if it failed, as an alert.',
  },
};

const EnrollForm = z.object({
  name: z.string().trim().min(1, 'enter the practice name').max(200),
  connector: z.string().regex(/^[a-z0-9-]{1,64}$/, 'choose the EHR'),
  contactName: z.string().trim().min(1, 'enter who can restart the agent on site').max(200),
  contactEmail: z
    .string()
    .trim()
    .regex(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, 'enter an e-mail address such as office@practice.example'),
  server: z.string().trim().max(255).optional(),
  port: z
    .string()
    .trim()
    .regex(/^(\d{1,5})?$/, 'enter a port number from 1 to 65535, or leave it empty')
    .optional(),
  database: z.string().trim().max(255).optional(),
});

function cookies(request: FastifyRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i).trim()] = decodeURIComponent(part.slice(i + 1).trim());
  }
  return out;
}

function healthBadge(state: string): Html {
  const cls =
    state === 'ok' || state === 'healthy' ? 'ok' : state === 'down' || state === 'unhealthy' ? 'bad' : 'warn';
  return html`<span class="badge ${cls}">${state}</span>`;
}

/** How a remote upgrade ended, once the agent reported it (upgrade-outcomes.ts). */
function outcomeBadge(outcome: 'upgraded' | 'upgrade_failed'): Html {
  return html`<span class="badge ${outcome === 'upgraded' ? 'ok' : 'bad'}"
    >${outcome.replace('_', ' ')}</span
  >`;
}

function commandBadge(status: string): Html {
  const cls =
    status === 'ok'
      ? 'ok'
      : status === 'refused' || status === 'queued' || status === 'sent'
        ? 'warn'
        : 'bad';
  return html`<span class="badge ${cls}">${status.replace('_', ' ')}</span>`;
}

/**
 * The hub console (docs/hub.md, "The console"): server-rendered pages for operators and vendor
 * staff. Log-in with e-mail, password (scrypt) and a TOTP code, rate limited; a session cookie
 * (HttpOnly, SameSite=Strict, Secure over TLS) whose token is stored hashed; every form that
 * changes something carries the session's CSRF token and must come from this origin. A user sees
 * only the sites of their vendor; anything else answers as if it did not exist.
 */
export function consoleRoutes(ctx: HubContext, options: ConsoleOptions) {
  const settings = ctx.config.console;
  const secure =
    settings.secureCookies ?? (!!ctx.config.tls || (ctx.config.publicUrl ?? '').startsWith('https:'));
  const cookieName = secure ? '__Host-tendril_console' : 'tendril_console';
  const windowMs = settings.login.windowMinutes * 60_000;
  const perEmail = new LoginLimiter(settings.login.maxFailures, windowMs);
  const perAddress = new LoginLimiter(settings.login.maxFailuresPerAddress, windowMs);
  const log = ctx.logger.child({ component: 'console' });

  return async function plugin(app: FastifyInstance): Promise<void> {
    app.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string', bodyLimit: 65_536 },
      (_request, body, done) => {
        done(null, Object.fromEntries(new URLSearchParams(body as string)));
      },
    );
    app.addHook('onSend', async (request, reply, payload) => {
      if (!request.url.startsWith('/console')) return payload;
      reply.header(
        'content-security-policy',
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
      );
      reply.header('x-content-type-options', 'nosniff');
      // same-origin, not no-referrer: with no-referrer a browser sends `Origin: null` on forms, which the origin check refuses.
      reply.header('referrer-policy', 'same-origin');
      reply.header('x-frame-options', 'DENY');
      if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
      return payload;
    });

    const send = (reply: FastifyReply, status: number, body: string) =>
      reply.code(status).type('text/html; charset=utf-8').send(body);

    const setCookie = (reply: FastifyReply, value: string, maxAgeSeconds: number) =>
      reply.header(
        'set-cookie',
        `${cookieName}=${encodeURIComponent(value)}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${secure ? '; Secure' : ''}`,
      );

    async function sessionOf(request: FastifyRequest): Promise<ConsoleSession | undefined> {
      const token = cookies(request)[cookieName];
      return token ? ctx.console.session(token, ctx.now()) : undefined;
    }

    /** Same-origin check for every POST (a browser always sends Origin on a cross-site form). */
    function sameOrigin(request: FastifyRequest): boolean {
      const origin = request.headers.origin;
      if (!origin) return true;
      try {
        return new URL(origin).host === request.headers.host;
      } catch {
        return false;
      }
    }

    async function requireUser(
      request: FastifyRequest,
      reply: FastifyReply,
      post = false,
    ): Promise<{ session: ConsoleSession; user: PageUser } | undefined> {
      const session = await sessionOf(request);
      if (!session) {
        if (post)
          send(
            reply,
            401,
            page('Log in', html`<p>Your session ended. <a href="/console/login">Log in again</a>.</p>`),
          );
        else reply.redirect('/console/login', 303);
        return undefined;
      }
      if (post) {
        const token = (request.body as Record<string, string> | undefined)?.['_csrf'] ?? '';
        if (!sameOrigin(request) || !tokensMatch(token, session.csrfToken)) {
          log.warn(
            { event: 'console.csrf_refused', userId: session.user.id },
            'a form without a valid CSRF token was refused',
          );
          send(
            reply,
            403,
            page(
              'Refused',
              html`<h1>Refused</h1>
                <p>
                  This form is out of date or did not come from the console. Go back, reload the page and try
                  again.
                </p>`,
            ),
          );
          return undefined;
        }
      }
      return {
        session,
        user: { email: session.user.email, vendor: session.user.vendor, csrfToken: session.csrfToken },
      };
    }

    /** A site of the user's vendor, or a 404 page exactly like a site that does not exist. */
    async function siteFor(
      siteId: string,
      session: ConsoleSession,
      reply: FastifyReply,
      user: PageUser,
    ): Promise<SiteRecord | undefined> {
      const site = await ctx.sites.getSite(siteId);
      if (!site || site.vendorId !== session.user.vendorId || site.purgedAt) {
        send(
          reply,
          404,
          page(
            'Not found',
            html`<h1>Not found</h1>
              <p>No site of yours has this id. <a href="/console/sites">All sites</a></p>`,
            user,
          ),
        );
        return undefined;
      }
      return site;
    }

    app.get('/console/assets/console.css', async (_request, reply) =>
      reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(CONSOLE_CSS),
    );

    app.get('/console', async (_request, reply) => reply.redirect('/console/sites', 303));

    const loginPage = (message?: string, email = '') =>
      page(
        'Log in',
        html`<div class="stack">
          <h1>Log in to the Tendril hub</h1>
          ${message ? html`<p class="alert" role="alert">${message}</p>` : ''}
          <form method="post" action="/console/login">
            <div class="field">
              <label for="email">E-mail</label
              ><input
                id="email"
                name="email"
                type="email"
                autocomplete="username"
                required
                value="${email}"
                autofocus
              />
            </div>
            <div class="field">
              <label for="password">Password</label
              ><input
                id="password"
                name="password"
                type="password"
                autocomplete="current-password"
                required
              />
            </div>
            <div class="field">
              <label for="code">Code from your authenticator app</label
              ><input
                id="code"
                name="code"
                inputmode="numeric"
                autocomplete="one-time-code"
                pattern="[0-9 ]{6,7}"
                required
                aria-describedby="code-help"
              />
              <div id="code-help" class="muted">Six digits; it changes every 30 seconds.</div>
            </div>
            <button type="submit">Log in</button>
          </form>
        </div>`,
      );

    app.get('/console/login', async (request, reply) => {
      if (await sessionOf(request)) return reply.redirect('/console/sites', 303);
      return send(reply, 200, loginPage());
    });

    app.post('/console/login', async (request, reply) => {
      const body = (request.body ?? {}) as Record<string, string>;
      const email = String(body['email'] ?? '')
        .trim()
        .toLowerCase()
        .slice(0, 320);
      const address = request.socket.remoteAddress ?? 'unknown';
      const now = Date.now();
      if (!sameOrigin(request))
        return send(reply, 403, loginPage('This log-in did not come from the console.'));
      const wait = Math.max(perEmail.blockedFor([email], now), perAddress.blockedFor([address], now));
      if (wait > 0) {
        log.warn({ event: 'console.login_limited', ip: address }, 'log-in refused: too many failures');
        reply.header('retry-after', String(Math.ceil(wait / 1000)));
        return send(
          reply,
          429,
          loginPage(`Too many failed log-ins. Try again in ${Math.ceil(wait / 60_000)} minutes.`, email),
        );
      }
      const checked = await ctx.console.checkPassword(email, String(body['password'] ?? ''));
      let ok = false;
      if (checked?.totpSealed) {
        const secret = unseal(ctx.consoleKey, checked.totpSealed);
        const step = secret ? matchTotp(secret, String(body['code'] ?? ''), ctx.now()) : undefined;
        ok = step !== undefined && (await ctx.console.useTotpStep(checked.user.id, step));
      }
      if (!checked || !ok) {
        perEmail.fail([email], now);
        perAddress.fail([address], now);
        log.warn({ event: 'console.login_failed', ip: address }, 'console log-in failed');
        return send(reply, 401, loginPage('E-mail, password or code not accepted.', email));
      }
      perEmail.succeed(email);
      const session = await ctx.console.createSession(checked.user.id, settings.sessionHours, ctx.now());
      await ctx.sites.audit(`user:${checked.user.email}`, 'console.login', null, {}, ctx.now());
      setCookie(reply, session.token, Math.round(settings.sessionHours * 3600));
      return reply.redirect('/console/sites', 303);
    });

    app.post('/console/logout', async (request, reply) => {
      const auth = await requireUser(request, reply, true);
      if (!auth) return reply;
      const token = cookies(request)[cookieName];
      if (token) await ctx.console.endSession(token);
      setCookie(reply, '', 0);
      return reply.redirect('/console/login', 303);
    });

    app.get<{ Querystring: Record<string, string | undefined> }>('/console/sites', async (request, reply) => {
      const auth = await requireUser(request, reply);
      if (!auth) return reply;
      const q = request.query;
      const sort: SiteSort = Object.hasOwn(SITE_SORTS, q['sort'] ?? '') ? (q['sort'] as SiteSort) : 'name';
      const descending = q['dir'] === 'desc';
      const state = q['state'] === 'online' || q['state'] === 'offline' ? q['state'] : undefined;
      const search = (q['q'] ?? '').trim().slice(0, 200);
      const requested = Math.max(1, Math.floor(Number(q['page'] ?? '1')) || 1);
      let result = await ctx.console.sitesPage({
        vendorId: auth.session.user.vendorId,
        ...(search ? { search } : {}),
        ...(state ? { state } : {}),
        sort,
        descending,
        page: requested,
        pageSize: PAGE_SIZE,
      });
      const pages = Math.max(1, Math.ceil(result.total / PAGE_SIZE));
      const current = Math.min(requested, pages);
      if (current !== requested)
        result = await ctx.console.sitesPage({
          vendorId: auth.session.user.vendorId,
          ...(search ? { search } : {}),
          ...(state ? { state } : {}),
          sort,
          descending,
          page: current,
          pageSize: PAGE_SIZE,
        });
      const now = ctx.now();
      const ids = result.rows.map((r) => r.id);
      const today = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
      const [eventsToday, openWritebacks, deliveries] = await Promise.all([
        ctx.console.eventsSince(ids, today),
        ctx.console.openWritebacks(ids),
        ctx.console.openDeliveries(ids),
      ]);
      const link = (changes: Record<string, string | number | undefined>) => {
        const params = new URLSearchParams();
        const merged: Record<string, string | number | undefined> = {
          q: search || undefined,
          state,
          sort,
          dir: descending ? 'desc' : undefined,
          page: current,
          ...changes,
        };
        for (const [k, v] of Object.entries(merged))
          if (v !== undefined && v !== '') params.set(k, String(v));
        return `/console/sites?${params.toString()}`;
      };
      const header = (key: SiteSort, label: string) => {
        const active = sort === key;
        const next = active && !descending ? 'desc' : undefined;
        return html`<th
          scope="col"
          aria-sort="${active ? (descending ? 'descending' : 'ascending') : 'none'}"
        >
          <a href="${link({ sort: key, dir: next, page: 1 })}"
            >${label}${active ? (descending ? ' ▼' : ' ▲') : ''}</a
          >
        </th>`;
      };
      const rows = result.rows.map((r) => {
        const worst = worstStream(r.status);
        // The stored column, so the number shown is the one the list sorts by.
        const fresh = r.oldestSuccessAt
          ? Math.max(0, Math.round((now.getTime() - r.oldestSuccessAt.getTime()) / 1000))
          : null;
        const quarantined = quarantinedOf(r.status);
        const since = r.online ? r.linkOpenedAt : (r.linkClosedAt ?? null);
        const stateText = r.revoked
          ? 'revoked'
          : r.online
            ? 'online'
            : r.linkOpenedAt
              ? 'offline'
              : 'never linked';
        return html`<tr>
          <td>
            <a href="/console/sites/${encodeURIComponent(r.id)}">${r.name}</a>
            <div class="muted">${r.id}</div>
          </td>
          <td>${r.connector}</td>
          <td>${r.agentVersion ?? html`<span class="muted">—</span>`}</td>
          <td>
            <span class="badge ${r.online ? 'ok' : 'bad'}">${stateText}</span
            >${since ? html`<div class="muted">since ${when(since)}</div>` : ''}
          </td>
          <td>
            ${r.status ? healthBadge(worst.state) : html`<span class="muted">no report</span>`}${worst.unhealthy > 0 ? html`<div class="muted">${worst.unhealthy} stream${worst.unhealthy === 1 ? '' : 's'}</div>` : ''}
          </td>
          <td class="num">${fresh === null ? html`<span class="muted">—</span>` : duration(fresh)}</td>
          <td class="num">${eventsToday.get(r.id) ?? 0}</td>
          <td class="num">${openWritebacks.get(r.id) ?? 0}</td>
          <td class="num">${quarantined ?? html`<span class="muted">—</span>`}</td>
          <td class="num">${deliveries.get(r.id)?.pending ?? 0}</td>
          <td class="num">
            ${(deliveries.get(r.id)?.dead ?? 0) > 0 ? html`<span class="badge bad">${deliveries.get(r.id)!.dead}</span>` : '0'}
          </td>
        </tr>`;
      });
      const body = html`<h1>Sites</h1>
        <form class="filters" method="get" action="/console/sites" role="search">
          <div>
            <label for="q">Search practice, site id or EHR</label
            ><input id="q" name="q" type="search" value="${search}" />
          </div>
          <div>
            <label for="state">State</label
            ><select id="state" name="state">
              <option value="">any</option>
              <option value="online" ${state === 'online' ? raw(' selected') : ''}>online</option>
              <option value="offline" ${state === 'offline' ? raw(' selected') : ''}>offline</option>
            </select>
          </div>
          <input
            type="hidden"
            name="sort"
            value="${sort}"
          />${descending ? html`<input type="hidden" name="dir" value="desc" />` : ''}
          <button type="submit">Filter</button>
        </form>
        <table>
          <caption>
            ${result.total} site${result.total === 1 ? '' : 's'}${search || state ? ' matching' : ''}; page
            ${current} of ${pages}
          </caption>
          <thead>
            <tr>
              ${header('name', 'Practice')}${header('ehr', 'EHR')}${header('version', 'Agent version')}${header('state', 'Online / offline since')}${header('health', 'Worst stream')}
              ${header('freshness', 'Freshness')}
              <th scope="col" class="num">Events today</th>
              <th scope="col" class="num">Open writebacks</th>
              <th scope="col" class="num">Quarantined</th>
              <th scope="col" class="num">Webhooks waiting</th>
              <th scope="col" class="num">Webhooks dead</th>
            </tr>
          </thead>
          <tbody>
            ${
              rows.length > 0
                ? rows
                : html`<tr>
                    <td colspan="11" class="muted">
                      No sites${search || state ? ' match' : ' yet: enroll a practice'}.
                    </td>
                  </tr>`
            }
          </tbody>
        </table>
        <nav class="pager" aria-label="Pages">
          ${current > 1 ? html`<a href="${link({ page: 1 })}">First</a> <a href="${link({ page: current - 1 })}" rel="prev">Previous</a>` : ''}
          <span>Page ${current} of ${pages}</span>
          ${current < pages ? html`<a href="${link({ page: current + 1 })}" rel="next">Next</a> <a href="${link({ page: pages })}">Last</a>` : ''}
        </nav>`;
      return send(reply, 200, page('Sites', body, auth.user));
    });

    app.get<{ Params: { site: string } }>('/console/sites/:site', async (request, reply) => {
      const auth = await requireUser(request, reply);
      if (!auth) return reply;
      const site = await siteFor(request.params.site, auth.session, reply, auth.user);
      if (!site) return reply;
      const now = ctx.now();
      const status = site.status ?? null;
      const startedAt = typeof status?.['agentStartedAt'] === 'string' ? status['agentStartedAt'] : undefined;
      const online = !!site.linkNode;
      const [alerts, writebacks, commands, samples] = await Promise.all([
        ctx.alerts.list({ vendorId: site.vendorId, siteId: site.id, since: now, limit: 50 }),
        ctx.console.recentWritebacks(site.id, 20),
        ctx.commands.history(site.id, 20),
        ctx.console.freshness(site.id, new Date(now.getTime() - 7 * 86_400_000)),
      ]);
      const streamRows = connectionsOf(status).flatMap((c) =>
        c.streams.map((s) => {
          const lag = s.lastSuccessAt ? (now.getTime() - Date.parse(s.lastSuccessAt)) / 1000 : null;
          const state = s.stale && s.status !== 'unhealthy' ? 'stale' : s.status;
          return html`<tr>
            <td>${c.id}</td>
            <td>${s.stream}</td>
            <td>${healthBadge(state)}</td>
            <td class="num">
              ${lag === null || Number.isNaN(lag) ? html`<span class="muted">never read</span>` : html`${duration(lag)} <span class="muted">(${(lag / SCHEDULE_SECONDS).toFixed(1)}× schedule)</span>`}
            </td>
            <td>${when(s.lastSuccessAt)}</td>
            <td>${plainError(s.lastErrorCode) || html`<span class="muted">none</span>`}</td>
          </tr>`;
        }),
      );
      const actions = (['restart', 'reload-config', 'logs', 'support-bundle', 'upgrade'] as const).map(
        (name) =>
          html`<a
            class="button${name === 'restart' ? '' : ' secondary'}"
            href="/console/sites/${encodeURIComponent(site.id)}/confirm/${name}"
            >${COMMAND_WORDS[name].title}</a
          >`,
      );
      const body = html`<p><a href="/console/sites">← All sites</a></p>
        <h1>${site.name}</h1>
        <div class="grid">
          <dl class="facts">
            <dt>Site id</dt>
            <dd>${site.id}</dd>
            <dt>EHR</dt>
            <dd>${site.connector}</dd>
            <dt>State</dt>
            <dd>
              <span class="badge ${online ? 'ok' : 'bad'}" id="site-state"
                >${online ? 'online' : site.revokedAt ? 'revoked' : 'offline'}</span
              >
              since ${when(online ? site.linkOpenedAt : site.linkClosedAt)}
            </dd>
            <dt>Agent version</dt>
            <dd>${site.agentVersion ?? '—'}</dd>
            <dt>Agent process up</dt>
            <dd id="uptime" data-started-at="${startedAt ?? ''}">
              ${startedAt && online ? html`${duration((now.getTime() - Date.parse(startedAt)) / 1000)} (started ${when(startedAt)})` : html`<span class="muted">—</span>`}
            </dd>
          </dl>
          <dl class="facts">
            <dt>Health</dt>
            <dd>
              ${status ? healthBadge(typeof status['health'] === 'string' ? status['health'] : 'ok') : html`<span class="muted">no report yet</span>`}
            </dd>
            <dt>Last seen</dt>
            <dd>${when(site.lastSeenAt)}</dd>
            <dt>Contact</dt>
            <dd>
              ${site.contactName ?? '—'}${site.contactEmail ? html` · <a href="mailto:${site.contactEmail}">${site.contactEmail}</a>` : ''}
            </dd>
            <dt>Connections</dt>
            <dd>${site.connectionIds.join(', ')}</dd>
          </dl>
        </div>
        ${
          Array.isArray(status?.['problems']) && (status['problems'] as unknown[]).length > 0
            ? html`<div class="alert" role="status">
                <strong>Problems:</strong>
                <ul>
                  ${(status['problems'] as string[]).map((p) => html`<li>${p}</li>`)}
                </ul>
              </div>`
            : ''
        }
        ${
          alerts.length > 0
            ? html`<div class="alert" role="status" id="site-alerts">
                <strong>Open alerts:</strong>
                <ul>
                  ${alerts.map((a) => html`<li>${a.kind}: ${a.message} (since ${when(a.openedAt)})</li>`)}
                </ul>
              </div>`
            : ''
        }
        <h2>Actions</h2>
        <div class="actions">${actions}</div>
        <h2>Connections and streams</h2>
        <table>
          <caption>
            Lag is measured against the 10-minute poll schedule
          </caption>
          <thead>
            <tr>
              <th scope="col">Connection</th>
              <th scope="col">Stream</th>
              <th scope="col">Health</th>
              <th scope="col" class="num">Since last successful read</th>
              <th scope="col">Last successful read</th>
              <th scope="col">Last error</th>
            </tr>
          </thead>
          <tbody>
            ${
              streamRows.length > 0
                ? streamRows
                : html`<tr>
                    <td colspan="6" class="muted">No status report from the agent yet.</td>
                  </tr>`
            }
          </tbody>
        </table>
        <h2>Freshness, last 7 days</h2>
        ${raw(freshnessChart(samples, now))}
        <h2>Recent writebacks</h2>
        <table>
          <thead>
            <tr>
              <th scope="col">Accepted</th>
              <th scope="col">Command</th>
              <th scope="col">Connection</th>
              <th scope="col">Status</th>
              <th scope="col">Reason</th>
            </tr>
          </thead>
          <tbody>
            ${
              writebacks.length > 0
                ? writebacks.map((w) => {
                    const result = w.result ?? {};
                    const error = result['error'] as { code?: string; message?: string } | undefined;
                    return html`<tr>
                      <td>${when(w.accepted_at)}</td>
                      <td>${w.command}</td>
                      <td>${w.connection_id}</td>
                      <td>
                        ${commandBadge(w.status === 'written' ? 'ok' : w.status === 'accepted' ? w.phase : w.status)}
                      </td>
                      <td>
                        ${error?.code ?? (typeof result['reason'] === 'string' ? result['reason'] : '')}
                      </td>
                    </tr>`;
                  })
                : html`<tr>
                    <td colspan="5" class="muted">No writebacks yet.</td>
                  </tr>`
            }
          </tbody>
        </table>
        <h2>Remote commands</h2>
        ${commandTable(commands)}`;
      return send(reply, 200, page(site.name, body, auth.user));
    });

    function commandTable(commands: readonly RemoteCommandRecord[]): Html {
      return html`<table id="commands">
        <thead>
          <tr>
            <th scope="col">Asked</th>
            <th scope="col">By</th>
            <th scope="col">Command</th>
            <th scope="col">Result</th>
            <th scope="col">Message</th>
          </tr>
        </thead>
        <tbody>
          ${
            commands.length > 0
              ? commands.map(
                  (c) =>
                    html`<tr>
                      <td><a href="/console/commands/${c.id}">${when(c.requestedAt)}</a></td>
                      <td>${c.actor}</td>
                      <td>${c.name}${c.args.release ? ` ${c.args.release.version}` : ''}</td>
                      <td>${commandBadge(c.status)}${c.outcome ? html` ${outcomeBadge(c.outcome)}` : ''}</td>
                      <td>${(c.outcomeReason ?? c.message ?? '').slice(0, 300)}</td>
                    </tr>`,
                )
              : html`<tr>
                  <td colspan="5" class="muted">No remote commands yet.</td>
                </tr>`
          }
        </tbody>
      </table>`;
    }

    const isCommand = (name: string): name is RemoteCommandName =>
      (REMOTE_COMMANDS as readonly string[]).includes(name);

    app.get<{ Params: { site: string; name: string } }>(
      '/console/sites/:site/confirm/:name',
      async (request, reply) => {
        const auth = await requireUser(request, reply);
        if (!auth) return reply;
        const site = await siteFor(request.params.site, auth.session, reply, auth.user);
        if (!site) return reply;
        const name = request.params.name;
        if (!isCommand(name)) return send(reply, 404, page('Not found', html`<h1>Not found</h1>`, auth.user));
        const words = COMMAND_WORDS[name];
        const releases = name === 'upgrade' ? await ctx.releases.list() : [];
        if (name === 'upgrade' && releases.length === 0)
          return send(
            reply,
            200,
            page(
              words.title,
              html`<p><a href="/console/sites/${encodeURIComponent(site.id)}">← ${site.name}</a></p>
                <h1>${words.title}: ${site.name}</h1>
                <p class="alert" role="status" id="no-releases">
                  This hub holds no release yet. The hub operator adds one with
                  <code>tendril hub release add &lt;tarball&gt;</code>.
                </p>`,
              auth.user,
            ),
          );
        const body = html`<p><a href="/console/sites/${encodeURIComponent(site.id)}">← ${site.name}</a></p>
          <div class="stack">
            <h1>${words.title}: ${site.name}?</h1>
            <p>${words.explain}</p>
            <form method="post" action="/console/sites/${encodeURIComponent(site.id)}/commands">
              <input type="hidden" name="_csrf" value="${auth.user.csrfToken}" />
              <input type="hidden" name="command" value="${name}" />
              ${name === 'logs' ? html`<div class="field"><label for="lines">How many of the newest lines</label><input id="lines" name="lines" type="number" min="1" max="${MAX_LOG_LINES}" value="200" /></div>` : ''}
              ${
                name === 'upgrade'
                  ? html`<p>
                        The agent runs
                        <strong id="current-version">${site.agentVersion ?? 'an unknown version'}</strong>.
                      </p>
                      <div class="field">
                        <label for="version">Version to install</label
                        ><select id="version" name="version" required>
                          ${releases.map((r) => html`<option value="${r.version}">${r.version} (${r.platform}, added ${when(r.addedAt)})</option>`)}
                        </select>
                      </div>`
                  : ''
              }
              <div class="actions">
                <button
                  type="submit"
                  ${name === 'restart' || name === 'upgrade' ? raw(' class="danger"') : ''}
                >
                  ${words.button}
                </button>
                <a class="button secondary" href="/console/sites/${encodeURIComponent(site.id)}">Cancel</a>
              </div>
            </form>
            <p class="muted">
              Recorded with your name in the site’s command history. The practice can turn remote commands off
              in its own configuration.
            </p>
          </div>`;
        return send(reply, 200, page(words.title, body, auth.user));
      },
    );

    app.post<{ Params: { site: string } }>('/console/sites/:site/commands', async (request, reply) => {
      const auth = await requireUser(request, reply, true);
      if (!auth) return reply;
      const site = await siteFor(request.params.site, auth.session, reply, auth.user);
      if (!site) return reply;
      const body = request.body as Record<string, string>;
      const name = String(body['command'] ?? '');
      if (!isCommand(name))
        return send(reply, 400, page('Refused', html`<h1>Unknown command</h1>`, auth.user));
      const lines = Math.min(MAX_LOG_LINES, Math.max(1, Math.floor(Number(body['lines'] ?? '200')) || 200));
      let args: RemoteCommandArgs | undefined = name === 'logs' ? { lines } : undefined;
      if (name === 'upgrade') {
        // Only a stored release: an unknown version is refused before anything is sent.
        const release = await ctx.releases.get(String(body['version'] ?? ''));
        if (!release)
          return send(
            reply,
            400,
            page(
              'Refused',
              html`<h1>No such release</h1>
                <p>
                  This hub holds no release of that version.
                  <a href="/console/sites/${encodeURIComponent(site.id)}/confirm/upgrade"
                    >Choose a stored one</a
                  >.
                </p>`,
              auth.user,
            ),
          );
        args = { release: ReleaseStore.commandRelease(release) };
      }
      const record = await options.runCommand({
        siteId: site.id,
        actor: `user:${auth.session.user.email}`,
        name,
        ...(args ? { args } : {}),
      });
      return reply.redirect(`/console/commands/${record.id}`, 303);
    });

    async function commandFor(id: string, session: ConsoleSession, reply: FastifyReply, user: PageUser) {
      const command = await ctx.commands.get(id, { withOutput: true });
      const site = command ? await ctx.sites.getSite(command.siteId) : undefined;
      if (!command || !site || site.vendorId !== session.user.vendorId) {
        send(reply, 404, page('Not found', html`<h1>Not found</h1>`, user));
        return undefined;
      }
      return { command, site };
    }

    app.get<{ Params: { id: string } }>('/console/commands/:id', async (request, reply) => {
      const auth = await requireUser(request, reply);
      if (!auth) return reply;
      const found = await commandFor(request.params.id, auth.session, reply, auth.user);
      if (!found) return reply;
      const { command, site } = found;
      const lines = command.output?.['lines'];
      const body = html`<p><a href="/console/sites/${encodeURIComponent(site.id)}">← ${site.name}</a></p>
        <h1>${COMMAND_WORDS[command.name].title}: ${commandBadge(command.status)}</h1>
        <p class="${command.status === 'ok' ? 'notice' : 'alert'}" role="status" id="command-message">
          ${command.message ?? ''}
        </p>
        <dl class="facts">
          <dt>Asked</dt>
          <dd>${when(command.requestedAt)} by ${command.actor}</dd>
          <dt>Answered</dt>
          <dd>${when(command.finishedAt)}</dd>
          ${
            command.args.release
              ? html`<dt>Release</dt>
                  <dd>${command.args.release.version}</dd>`
              : ''
          }
          ${
            command.outcome
              ? html`<dt>Outcome</dt>
                  <dd id="command-outcome">
                    ${outcomeBadge(command.outcome)}
                    ${when(command.outcomeAt)}${command.outcomeReason ? html`: ${command.outcomeReason}` : ''}
                  </dd>`
              : ''
          }
        </dl>
        ${
          Array.isArray(lines)
            ? html`<h2>Log lines (${lines.length})</h2>
                <pre tabindex="0" aria-label="Log lines">${(lines as string[]).join('\n')}</pre>`
            : ''
        }
        ${command.output?.['bundle'] ? html`<p><a class="button" href="/console/commands/${command.id}/bundle.json" download>Download the support bundle (JSON)</a></p>` : ''}`;
      return send(reply, 200, page('Remote command', body, auth.user));
    });

    app.get<{ Params: { id: string } }>('/console/commands/:id/bundle.json', async (request, reply) => {
      const auth = await requireUser(request, reply);
      if (!auth) return reply;
      const found = await commandFor(request.params.id, auth.session, reply, auth.user);
      if (!found) return reply;
      return reply
        .type('application/json')
        .header('content-disposition', `attachment; filename="tendril-support-${found.site.id}.json"`)
        .send(JSON.stringify(found.command.output?.['bundle'] ?? {}, null, 2));
    });

    const enrollPage = (
      user: PageUser,
      values: Record<string, string> = {},
      problems: Record<string, string> = {},
    ) => {
      const field = (name: string, label: string, type = 'text', extra: Html | string = '') => {
        const id = `f-${name}`;
        return html`<div class="field">
          <label for="${id}">${label}</label
          ><input
            id="${id}"
            name="${name}"
            type="${type}"
            value="${values[name] ?? ''}"
            ${problems[name] ? raw(` aria-invalid="true" aria-describedby="${id}-error"`) : ''}${extra ? raw(` ${String(extra)}`) : ''}
          />${problems[name] ? html`<div class="bad" id="${id}-error">${problems[name]}</div>` : ''}
        </div>`;
      };
      return page(
        'Enroll a practice',
        html`<div class="stack">
          <h1>Enroll a practice</h1>
          <p>
            The practice gets a one-time enrollment key. The database password is never asked here: it stays
            at the practice.
          </p>
          ${Object.keys(problems).length > 0 ? html`<div class="alert" role="alert">Please fix ${Object.keys(problems).length === 1 ? 'the field' : `the ${Object.keys(problems).length} fields`} marked below.</div>` : ''}
          <form method="post" action="/console/enroll">
            <input type="hidden" name="_csrf" value="${user.csrfToken}" />
            ${field('name', 'Practice name', 'text', 'required')}
            <div class="field">
              <label for="f-connector">EHR</label
              ><select id="f-connector" name="connector" required>
                ${options.connectors.map((c) => html`<option value="${c}" ${values['connector'] === c ? raw(' selected') : ''}>${c}</option>`)}</select
              >${problems['connector'] ? html`<div class="bad">${problems['connector']}</div>` : ''}
            </div>
            ${field('contactName', 'Contact name (who can restart the agent on site)', 'text', 'required')}
            ${field('contactEmail', 'Contact e-mail', 'email', 'required')}
            <fieldset>
              <legend>Database (pre-filled into the agent’s setup; optional)</legend>
              ${field('server', 'Server name or IP address')}
              ${field('port', 'Port (empty for the default)', 'text', 'inputmode="numeric"')}
              ${field('database', 'Database name')}
            </fieldset>
            <p><button type="submit">Create the enrollment key</button></p>
          </form>
        </div>`,
        user,
      );
    };

    app.get('/console/alerts', async (request, reply) => {
      const auth = await requireUser(request, reply);
      if (!auth) return reply;
      const now = ctx.now();
      const alerts = await ctx.alerts.list({
        vendorId: auth.session.user.vendorId,
        since: new Date(now.getTime() - 7 * 86_400_000),
        limit: 500,
      });
      const open = alerts.filter((a) => !a.resolvedAt).length;
      const body = html`<h1>Alerts</h1>
        <table id="alerts">
          <caption>
            ${open} open; resolved ones of the last 7 days below them
          </caption>
          <thead>
            <tr>
              <th scope="col">State</th>
              <th scope="col">Site</th>
              <th scope="col">Alert</th>
              <th scope="col">What</th>
              <th scope="col">Opened</th>
              <th scope="col">Resolved</th>
            </tr>
          </thead>
          <tbody>
            ${
              alerts.length > 0
                ? alerts.map(
                    (a) =>
                      html`<tr>
                        <td>
                          ${a.resolvedAt ? html`<span class="badge ok">resolved</span>` : html`<span class="badge bad">open</span>`}
                        </td>
                        <td>
                          <a href="/console/sites/${encodeURIComponent(a.siteId)}"
                            >${a.siteName ?? a.siteId}</a
                          >
                        </td>
                        <td>${a.kind}</td>
                        <td>${a.message}</td>
                        <td>${when(a.openedAt)}</td>
                        <td>${a.resolvedAt ? when(a.resolvedAt) : ''}</td>
                      </tr>`,
                  )
                : html`<tr>
                    <td colspan="6" class="muted">No alerts in the last 7 days.</td>
                  </tr>`
            }
          </tbody>
        </table>`;
      return send(reply, 200, page('Alerts', body, auth.user));
    });

    app.get('/console/enroll', async (request, reply) => {
      const auth = await requireUser(request, reply);
      if (!auth) return reply;
      return send(reply, 200, enrollPage(auth.user));
    });

    app.post('/console/enroll', async (request, reply) => {
      const auth = await requireUser(request, reply, true);
      if (!auth) return reply;
      const body = request.body as Record<string, string>;
      const values = Object.fromEntries(
        ['name', 'connector', 'contactName', 'contactEmail', 'server', 'port', 'database'].map((k) => [
          k,
          String(body[k] ?? ''),
        ]),
      );
      const parsed = EnrollForm.safeParse(values);
      const problems: Record<string, string> = {};
      if (!parsed.success)
        for (const issue of parsed.error.issues) problems[String(issue.path[0])] ??= issue.message;
      const port = values['port'] ? Number(values['port']) : undefined;
      if (port !== undefined && (port < 1 || port > 65_535))
        problems['port'] ??= 'enter a port number from 1 to 65535';
      if (!options.connectors.includes(values['connector']!)) problems['connector'] ??= 'choose the EHR';
      if (Object.keys(problems).length > 0 || !parsed.success)
        return send(reply, 400, enrollPage(auth.user, values, problems));
      const form = parsed.data;
      const now = ctx.now();
      const created = await ctx.sites.createSite(
        {
          vendor: auth.session.user.vendor,
          name: form.name,
          connector: form.connector,
          contactName: form.contactName,
          contactEmail: form.contactEmail,
          ...(form.server ? { server: form.server } : {}),
          ...(port !== undefined ? { port } : {}),
          ...(form.database ? { database: form.database } : {}),
        },
        now,
      );
      await ctx.sites.audit(
        `user:${auth.session.user.email}`,
        'site.create',
        created.site.id,
        { connector: form.connector },
        now,
      );
      const hubUrl = ctx.config.publicUrl ?? `${request.protocol}://${request.headers.host ?? 'localhost'}`;
      const key = created.enrollmentKey;
      const linux = [
        `sudo tendril init --config /etc/tendril/tendril.yaml --key-file /etc/tendril/site.key \\`,
        `     --store /var/lib/tendril/tendril.db --hub ${hubUrl} --enroll ${key}`,
        `sudo tendril service install --config /etc/tendril/tendril.yaml --user tendril \\`,
        `     --site-key-file /etc/tendril/site.key`,
        `sudo systemctl daemon-reload && sudo systemctl enable --now tendril`,
      ].join('\n');
      const windows = [
        `tendril init --config C:\\ProgramData\\Tendril\\tendril.yaml --key-file C:\\ProgramData\\Tendril\\site.key --hub ${hubUrl} --enroll ${key}`,
        `tendril service install --config C:\\ProgramData\\Tendril\\tendril.yaml --site-key-file C:\\ProgramData\\Tendril\\site.key`,
        `C:\\ProgramData\\Tendril\\install-tendril-service.ps1`,
      ].join('\n');
      const page2 = html`<p><a href="/console/sites">← All sites</a></p>
        <h1>${form.name} is ready to enroll</h1>
        <div class="notice" role="status">
          Site <strong>${created.site.id}</strong> created; connection
          <strong>${created.site.connectionIds.join(', ')}</strong>.
        </div>
        <h2>Enrollment key</h2>
        <p>
          <strong>Shown only this once.</strong> Single use; it expires ${when(created.expiresAt)}. Send it to
          the practice’s IT by a safe channel.
        </p>
        <code class="key" id="enrollment-key" tabindex="0" aria-label="Enrollment key">${key}</code>
        <h2>Install on Linux (as root)</h2>
        <p>First install the program (docs/install-linux.md, step 1), then:</p>
        <pre id="install-linux" tabindex="0" aria-label="Linux install commands">${linux}</pre>
        <h2>Install on Windows (PowerShell as Administrator)</h2>
        <p>First install the program (docs/install-windows.md, step 1), then:</p>
        <pre id="install-windows" tabindex="0" aria-label="Windows install commands">${windows}</pre>
        <p>
          The setup asks only for what is missing — the database password, which never leaves the practice —
          and tests the connection before it spends the key. The site shows online here within a minute of the
          service starting.
        </p>
        <p>
          <a class="button" href="/console/sites/${encodeURIComponent(created.site.id)}">Open the site</a>
        </p>`;
      return send(reply, 201, page('Enrollment key', page2, auth.user));
    });
  };
}
