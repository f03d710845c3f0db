import { existsSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './support/cli.js';
import {
  enrollAgent,
  hubAdmin,
  startAgent,
  startHub,
  until,
  vendorClient,
  type TestHub,
  type TestProcess,
} from './support/hub.js';
import { createTestDatabase, loadOpenDentalSchema, type TestDatabase } from './support/mariadb.js';

/**
 * `tendril hub` on its embedded PostgreSQL (PGlite, no server): the folder is locked to the running
 * hub, admin commands go through its loopback endpoint, open the store themselves only when no hub
 * holds it, and an enrolled agent links and relays.
 */
describe('tendril hub on PGlite', () => {
  let dir: string;
  let hub: TestHub | undefined;
  let db: TestDatabase;
  let agent: TestProcess | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tendril-hub-pglite-'));
    db = await createTestDatabase('tendril_hub_pgl');
    await loadOpenDentalSchema(db);
    const seeded = await runCli([
      'seed',
      '--connector',
      'open-dental',
      '--url',
      db.url,
      '--patients',
      '40',
      '--seed',
      'pgl',
    ]);
    if (seeded.code !== 0) throw new Error(seeded.stderr);
  }, 120_000);
  afterAll(async () => {
    await agent?.stop();
    await hub?.stop();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('locks its folder, serves admin commands through the running hub, and opens the store directly only when none runs', async () => {
    hub = await startHub(dir, {});
    const created = await hubAdmin<{ siteId: string; enrollmentKey: string }>(hub.configFile, [
      'site',
      'create',
      '--name',
      'Lone Pine Dental',
      '--connector',
      'open-dental',
      '--contact-name',
      'Office',
      '--contact-email',
      'office@lonepine.example',
    ]);
    expect(created.siteId).toMatch(/^st_/);
    // Without the endpoint file the command must open the folder itself: the lock stops it.
    const endpoint = join(dir, 'hubdata', 'admin.json');
    renameSync(endpoint, `${endpoint}.hidden`);
    const blocked = await runCli(['hub', 'site', 'list', '--config', hub.configFile]);
    renameSync(`${endpoint}.hidden`, endpoint);
    expect(blocked.code).toBe(2);
    expect(blocked.stderr).toContain(`in use by process ${hub.child.pid}`);
    await hub.stop();
    expect(existsSync(endpoint)).toBe(false);
    const direct = await hubAdmin<{ sites: { id: string }[] }>(hub.configFile, ['site', 'list']);
    expect(direct.sites.map((s) => s.id)).toContain(created.siteId);
    expect(existsSync(join(dir, 'hubdata', 'db.lock'))).toBe(false);

    hub = await startHub(dir, {});
    const key = (
      await hubAdmin<{ key: string }>(hub.configFile, [
        'api-key',
        'create',
        '--name',
        'default',
        '--sites',
        '*',
      ])
    ).key;
    const enrolled = await enrollAgent({
      dir: join(dir, 'agent'),
      hubUrl: hub.url,
      enrollmentKey: created.enrollmentKey,
      database: db.name,
    });
    agent = await startAgent(enrolled);
    const vendor = vendorClient(hub.url, key);
    await until('online', async () =>
      (await vendor.get(`/v1/sites/${created.siteId}`)).body['online'] === true ? true : undefined,
    );
    await until(
      'relayed events',
      async () => ((await vendor.allEvents(created.siteId)).length > 40 ? true : undefined),
      60_000,
      500,
    );
  }, 240_000);
});
