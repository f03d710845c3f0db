import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resourceHash, resourceId } from '@tendril/core';
import { openSqliteStore, type PendingChange } from '@tendril/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './support/cli.js';

/** Written 60 days ago, so every default retention has passed. */
const LONG_AGO = new Date(Date.now() - 60 * 86_400_000);
const FAMILY = 'Abernathy-Quispe';
const SITE_KEY = `tsk_${randomBytes(32).toString('base64url')}`;

function change(sourceId: string, version: number): PendingChange {
  const id = resourceId('c1', 'Patient', sourceId);
  const resource = { resourceType: 'Patient', id, sourceId, name: { family: `${FAMILY}${version}` } };
  const hash = resourceHash(resource);
  return {
    resourceType: 'Patient',
    sourceId,
    resourceId: id,
    kind: version === 1 ? 'created' : 'updated',
    hash,
    data: { ...resource, meta: { syncedAt: LONG_AGO.toISOString(), hash } },
    refs: {},
  };
}

describe('tendril store prune (docs/store.md, "Retention and pruning")', () => {
  let dir: string;
  let configFile: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tendril-prune-'));
    const storeFile = join(dir, 'tendril.db');
    const key = Buffer.from(SITE_KEY.slice(4), 'base64url');
    const store = openSqliteStore(storeFile, { now: () => LONG_AGO, siteKey: key });
    for (const version of [1, 2]) {
      await store.commitPage({
        connectionId: 'c1',
        connectorId: 'open-dental',
        stream: 'patients',
        changes: ['1', '2', '3'].map((id) => change(id, version)),
        seen: [],
        state: { mode: 'timestamp', watermark: `w${version}` },
        seenAt: LONG_AGO.toISOString(),
      });
    }
    await store.close();
    configFile = join(dir, 'tendril.yaml');
    writeFileSync(
      configFile,
      [
        `store: { sqlite: ${storeFile} }`,
        'retention: { outboxDays: 30 }',
        'connections:',
        '  - id: c1',
        '    connector: open-dental',
        '    timezone: America/New_York',
        '    database: { url: "mysql://reader@127.0.0.1:3306/unused" }',
        '',
      ].join('\n'),
    );
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('--dry-run counts, then prune deletes the superseded events; output and log carry counts only', async () => {
    const env = { TENDRIL_SITE_KEY: SITE_KEY };
    const dry = await runCli(['store', 'prune', '--config', configFile, '--dry-run', '--json'], { env });
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ dryRun: true, outbox: 3, reclaimed: 'dry-run' });

    const pruned = await runCli(['store', 'prune', '--config', configFile], { env });
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(pruned.stdout).toMatch(/outbox events\s+3/);
    expect(pruned.stdout).toMatch(/store size .* → /);
    expect(pruned.stderr).toContain('"event":"store.pruned"');
    expect(`${pruned.stdout}${pruned.stderr}${dry.stdout}${dry.stderr}`).not.toContain(FAMILY);

    const events = await runCli(['events', '--config', configFile, '--json'], { env });
    expect(events.code, events.stderr).toBe(0);
    const left = JSON.parse(events.stdout) as { data: { name: { family: string } } }[];
    expect(left.map((e) => e.data.name.family)).toEqual([`${FAMILY}2`, `${FAMILY}2`, `${FAMILY}2`]);

    // The store was sealed with this key: without it every command refuses, naming the fix.
    const noKey = await runCli(['store', 'prune', '--config', configFile], { env: { TENDRIL_SITE_KEY: '' } });
    expect(noKey.code).not.toBe(0);
    expect(noKey.stderr).toContain('TENDRIL_E_STORE_KEY');
    expect(noKey.stderr).toContain('TENDRIL_SITE_KEY');
  });
});
