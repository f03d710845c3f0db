import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './support/cli.js';

/**
 * The README's first command, as a user runs it (`tendril demo`, no server, no ../shared): the
 * hub step it shows must really happen — a hub on PGlite, the agent enrolled and linked, its outbox
 * relayed, a vendor's booking through the hub written and back as a result event, and the
 * result delivered to the vendor's webhook receiver, which verifies it with the standardwebhooks library.
 */
describe('tendril demo: the hub step', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tendril-demo-hub-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs a hub on PGlite, relays the outbox and books through the hub', async () => {
    const result = await runCli(['demo', '--patients', '150', '--dir', dir]);
    expect(result.code, result.stderr).toBe(0);
    const out = result.stdout;
    expect(out).toContain('8. The hub: the vendor side, on an embedded PostgreSQL (PGlite');
    expect(out).toMatch(/online: true, health: (ok|degraded)/);
    const relayed = /relayed: (\d+) outbox events → (\d+) events in the hub's log/.exec(out);
    expect(relayed).not.toBeNull();
    expect(Number(relayed![2])).toBe(Number(relayed![1]) + 1);
    expect(out).toMatch(/POST \/v1\/sites\/st_[0-9a-f]+\/writebacks Appointment\.book → 202/);
    expect(out).toMatch(/hub → agent → EHR → hub: GET \/v1\/writebacks\/\S+ → written/);
    expect(out).toMatch(
      /appointment\.writeback\.written, idempotencyKey demo-hub-book-\d+ \(the vendor's own\)/,
    );
    // The webhook leg: the vendor's receiver verified each delivery with the standardwebhooks library.
    expect(out).toMatch(
      /POST \/v1\/subscriptions \(site\.\*, appointment\.writeback\.\*\) → 201 sub_[0-9a-f]+/,
    );
    expect(out).toContain('vendor webhook ← site.online');
    expect(out).toMatch(
      /vendor webhook ← appointment\.writeback\.written idempotencyKey demo-hub-book-\d+ \(signature verified with standardwebhooks\)/,
    );
    expect(out).toMatch(/hub → vendor webhook: the booking's result arrived, verified/);
    expect(out).not.toContain('rejected');
    expect(out).not.toMatch(/whsec_[A-Za-z0-9+/]{20}/);
  }, 300_000);
});
