import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resourceHash, resourceId } from '@tendril/core';
import { openSqliteStore } from '@tendril/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './support/cli.js';

const FAMILY = 'Thistlewood-Okafor';
const siteKey = () => `tsk_${randomBytes(32).toString('base64url')}`;

/**
 * An agent store left plain and world-readable by an older Tendril, then used by the agent with a
 * site key: the first command tightens its modes and seals it in place (docs/security.md, "PHI at rest").
 */
describe('an existing plain store, first opened by the agent with a site key', () => {
  let dir: string;
  let folder: string;
  let storeFile: string;
  let configFile: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tendril-at-rest-'));
    folder = join(dir, '.tendril');
    mkdirSync(folder);
    storeFile = join(folder, 'tendril.db');
    const store = openSqliteStore(storeFile);
    const seenAt = new Date().toISOString();
    await store.commitPage({
      connectionId: 'c1',
      connectorId: 'open-dental',
      stream: 'patients',
      changes: ['1', '2'].map((sourceId) => {
        const id = resourceId('c1', 'Patient', sourceId);
        const resource = {
          resourceType: 'Patient',
          id,
          sourceId,
          name: { family: FAMILY },
          note: FAMILY.repeat(300),
        };
        const hash = resourceHash(resource);
        return {
          resourceType: 'Patient' as const,
          sourceId,
          resourceId: id,
          kind: 'created' as const,
          hash,
          data: { ...resource, meta: { syncedAt: seenAt, hash } },
          refs: {},
        };
      }),
      seen: [],
      state: { mode: 'timestamp', watermark: 'w1' },
      seenAt,
    });
    await store.close();
    chmodSync(folder, 0o755);
    chmodSync(storeFile, 0o644);
    configFile = join(dir, 'tendril.yaml');
    writeFileSync(
      configFile,
      [
        `store: { sqlite: ${storeFile} }`,
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

  const fileBytes = () =>
    ['', '-wal', '-shm']
      .map((suffix) => `${storeFile}${suffix}`)
      .filter((file) => existsSync(file))
      .map((file) => readFileSync(file).toString('latin1'))
      .join('');

  it('is tightened to 0600/0700 and sealed in place; then refused without its key or with another', async () => {
    expect(fileBytes()).toContain(FAMILY);
    const key = siteKey();
    const events = await runCli(['events', '--config', configFile, '--json'], {
      env: { TENDRIL_SITE_KEY: key },
    });
    expect(events.code, events.stderr).toBe(0);
    const listed = JSON.parse(events.stdout) as { data: { name: { family: string } } }[];
    expect(listed.map((e) => e.data.name.family)).toEqual([FAMILY, FAMILY]);
    expect(statSync(folder).mode & 0o777).toBe(0o700);
    expect(statSync(storeFile).mode & 0o777).toBe(0o600);
    expect(fileBytes()).not.toContain(FAMILY);

    for (const env of [{ TENDRIL_SITE_KEY: '' }, { TENDRIL_SITE_KEY: siteKey() }]) {
      const refused = await runCli(['events', '--config', configFile, '--json'], { env });
      // Exit 2: a restart cannot fix it, so the supervisor does not loop on it (docs/cli.md).
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain('TENDRIL_E_STORE_KEY');
      expect(`${refused.stdout}${refused.stderr}`).not.toContain(FAMILY);
    }
  });
});
