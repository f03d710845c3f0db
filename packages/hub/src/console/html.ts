/**
 * The console's server-rendered HTML (docs/hub.md, "The console"): no scripts, no framework, no
 * CDN. Every value goes through `esc`; pages are built from tagged template strings that escape.
 */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

export function esc(value: string | number | null | undefined): string {
  return String(value ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

type Part = Html | string | number | null | undefined | false | readonly Part[];

function render(part: Part): string {
  if (part === null || part === undefined || part === false) return '';
  if (part instanceof Html) return part.text;
  // What is left of the objects is a list of parts (Array.isArray does not narrow a readonly array).
  if (typeof part === 'object') return part.map(render).join('');
  return esc(part);
}

/** A template whose interpolations are escaped unless they are already `Html`. */
export function html(strings: TemplateStringsArray, ...values: Part[]): Html {
  let out = strings[0]!;
  values.forEach((value, i) => {
    out += render(value) + strings[i + 1]!;
  });
  return new Html(out);
}

/** Trusted markup (built here, never from input). */
export const raw = (text: string) => new Html(text);

export interface PageUser {
  readonly email: string;
  readonly vendor: string;
  readonly csrfToken: string;
}

export function page(title: string, body: Html, user?: PageUser): string {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title} · Tendril hub</title>
        <link rel="stylesheet" href="/console/assets/console.css" />
      </head>
      <body>
        <a class="skip" href="#main">Skip to content</a>
        <header class="top">
          <span class="brand">Tendril hub</span>
          ${
            user
              ? html`<nav aria-label="Main">
                    <a href="/console/sites">Sites</a> <a href="/console/alerts">Alerts</a>
                    <a href="/console/enroll">Enroll a practice</a>
                  </nav>
                  <span class="who">${user.vendor} · ${user.email}</span>
                  <form method="post" action="/console/logout" class="inline">
                    <input type="hidden" name="_csrf" value="${user.csrfToken}" /><button
                      type="submit"
                      class="link"
                    >
                      Log out
                    </button>
                  </form>`
              : ''
          }
        </header>
        <main id="main" tabindex="-1">${body}</main>
      </body>
    </html>`.text;
}

/** `2026-12-02 16:10 UTC` in a <time> element. */
export function when(at: Date | string | null | undefined): Html {
  if (!at) return html`<span class="muted">never</span>`;
  const date = typeof at === 'string' ? new Date(at) : at;
  if (Number.isNaN(date.getTime())) return html`<span class="muted">unknown</span>`;
  const iso = date.toISOString();
  return html`<time datetime="${iso}">${iso.slice(0, 16).replace('T', ' ')} UTC</time>`;
}

export const CONSOLE_CSS = `
:root { --fg:#1b1f24; --muted:#57606a; --line:#d0d7de; --bg:#ffffff; --accent:#0b5cad; --ok:#1a7f37; --warn:#9a6700; --bad:#cf222e; }
* { box-sizing: border-box; }
body { margin:0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--fg); background:var(--bg); }
a { color: var(--accent); }
:focus-visible { outline: 3px solid #f59e0b; outline-offset: 2px; }
.skip { position:absolute; left:-999px; top:0; background:#fff; padding:.5em; }
.skip:focus { left: .5em; }
.top { display:flex; gap:1.5em; align-items:center; padding:.6em 1.2em; background:#0d1117; color:#f0f6fc; }
.top a, .top .link { color:#f0f6fc; }
.brand { font-weight:700; }
.top nav { display:flex; gap:1em; flex:1; }
.who { color:#c9d1d9; font-size:.9em; }
main { padding: 1em 1.5em 3em; max-width: 1280px; }
h1 { font-size:1.5em; margin:.3em 0 .6em; }
h2 { font-size:1.15em; margin:1.6em 0 .5em; border-bottom:1px solid var(--line); padding-bottom:.2em; }
table { border-collapse: collapse; width:100%; font-size:.92em; }
caption { text-align:left; color:var(--muted); padding:.3em 0; }
th, td { border-bottom:1px solid var(--line); padding:.35em .5em; text-align:left; vertical-align:top; }
th { background:#f6f8fa; white-space:nowrap; }
td.num, th.num { text-align:right; font-variant-numeric: tabular-nums; }
.badge { display:inline-block; padding:0 .45em; border-radius:.8em; font-size:.85em; font-weight:600; border:1px solid currentColor; }
.ok { color:var(--ok); } .warn { color:var(--warn); } .bad { color:var(--bad); } .muted { color:var(--muted); }
form.filters { display:flex; gap:.8em; align-items:end; flex-wrap:wrap; margin-bottom:.8em; }
label { display:block; font-weight:600; font-size:.9em; margin-bottom:.15em; }
input, select { font:inherit; padding:.35em .5em; border:1px solid #8c959f; border-radius:4px; min-width:12em; }
button, .button { font:inherit; padding:.4em .9em; border-radius:4px; border:1px solid #1f6feb; background:#1f6feb; color:#fff; cursor:pointer; text-decoration:none; display:inline-block; }
button.secondary, .button.secondary { background:#fff; color:#1f6feb; }
button.danger { background:var(--bad); border-color:var(--bad); }
button.link { background:none; border:none; padding:0; text-decoration:underline; }
form.inline { display:inline; }
.field { margin-bottom: .8em; }
.stack { max-width: 34em; }
.grid { display:grid; grid-template-columns: repeat(auto-fit, minmax(15em, 1fr)); gap:.2em 1.5em; }
dl.facts { display:grid; grid-template-columns: max-content 1fr; gap:.25em 1em; margin:0; }
dl.facts dt { color:var(--muted); }
dl.facts dd { margin:0; }
.actions { display:flex; gap:.6em; flex-wrap:wrap; margin:.8em 0; }
.alert { border:1px solid var(--bad); background:#ffebe9; padding:.6em .9em; border-radius:4px; margin:.6em 0; }
.notice { border:1px solid var(--ok); background:#dafbe1; padding:.6em .9em; border-radius:4px; margin:.6em 0; }
pre { white-space: pre-wrap; word-break: break-all; }
.stack input:not([type=hidden]), .stack select { width: 100%; max-width: 32em; }
pre, code.key { background:#f6f8fa; border:1px solid var(--line); border-radius:4px; padding:.6em; overflow:auto; font-size:.85em; }
code.key { display:block; font-size:1.05em; word-break:break-all; }
nav.pager { display:flex; gap:1em; align-items:center; margin-top:.8em; }
svg.chart { max-width:100%; height:auto; border:1px solid var(--line); border-radius:4px; background:#fff; }
`;
