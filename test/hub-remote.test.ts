import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { runCli } from './support/cli.js';
import {
  enrollAgent,
  hubAdmin,
  startAgent,
  startHub,
  until,
  type EnrolledAgent,
  type TestHub,
  type TestProcess,
} from './support/hub.js';
import { createTestDatabase, loadOpenDentalSchema, type TestDatabase } from './support/mariadb.js';

interface CommandRecord {
  id: string;
  name: string;
  actor: string;
  status: string;
  message?: string;
  output?: { lines?: string[]; bundle?: { connections: { connection: string }[] } };
}

/**
 * Remote commands over the link (docs/hub.md, "Remote commands"), end to end with real processes:
 * a hub on PGlite, an agent enrolled through it and run under its supervisor, and the CLI asking
 * for a restart, logs, a support bundle and a config reload — and the practice turning one off.
 */
describe('remote commands', () => {
  let dir: string;
  let hub: TestHub | undefined;
  let db: TestDatabase;
  let agent: TestProcess | undefined;
  let enrolled: EnrolledAgent;
  let siteId: string;

  const startedAt = async (): Promise<string | undefined> => {
    const shown = await hubAdmin<{ site: { status?: { agentStartedAt?: string }; linkNode?: string } }>(
      hub!.configFile,
      ['site', 'show', siteId],
    );
    return shown.site.linkNode ? shown.site.status?.agentStartedAt : undefined;
  };
  const command = async (args: string[]) => {
    const result = await runCli(['hub', 'site', ...args, siteId, '--config', hub!.configFile, '--json']);
    return { code: result.code, record: JSON.parse(result.stdout) as CommandRecord };
  };
  type ConfigDoc = { hub: Record<string, unknown>; connections: { sync: Record<string, unknown> }[] };
  const editConfig = (edit: (doc: ConfigDoc) => void) => {
    const doc = parse(readFileSync(enrolled.configFile, 'utf8')) as ConfigDoc;
    edit(doc);
    writeFileSync(enrolled.configFile, stringify(doc));
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tendril-hub-remote-'));
    db = await createTestDatabase('tendril_hub_rmt');
    await loadOpenDentalSchema(db);
    hub = await startHub(dir, {});
    const created = await hubAdmin<{ siteId: string; enrollmentKey: string }>(hub.configFile, [
      'site',
      'create',
      '--name',
      'Remote Ridge Dental',
      '--connector',
      'open-dental',
      '--contact-name',
      'Front Desk',
      '--contact-email',
      'desk@remoteridge.example',
    ]);
    siteId = created.siteId;
    enrolled = await enrollAgent({
      dir: join(dir, 'agent'),
      hubUrl: hub.url,
      enrollmentKey: created.enrollmentKey,
      database: db.name,
    });
    agent = await startAgent(enrolled, {}, { supervise: true });
    await until('the first status', startedAt, 60_000);
  }, 180_000);
  afterAll(async () => {
    await agent?.stop();
    await hub?.stop();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('restarts the agent through its supervisor, and the uptime starts again', async () => {
    const before = await startedAt();
    const { code, record } = await command(['restart']);
    expect(code).toBe(0);
    expect(record).toMatchObject({ name: 'restart', status: 'ok', actor: 'admin' });
    const after = await until(
      'a fresh agent process',
      async () => {
        const now = await startedAt();
        return now && now !== before ? now : undefined;
      },
      60_000,
    );
    expect(Date.parse(after)).toBeGreaterThan(Date.parse(before!));
    // The supervisor itself stayed: the same top process, a new child.
    expect(agent!.child.exitCode).toBeNull();
  }, 90_000);

  it('fetches the newest log lines, redacted as the agent writes them', async () => {
    const { code, record } = await command(['logs', '--lines', '50']);
    expect(code).toBe(0);
    const lines = record.output!.lines!;
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.length).toBeLessThanOrEqual(50);
    expect(lines.some((l) => l.includes('"event":"hub.linked"'))).toBe(true);
    for (const line of lines) expect(() => JSON.parse(line) as unknown).not.toThrow();
    // The site key never appears in a log line.
    expect(lines.join('\n')).not.toContain(enrolled.siteKey);
  }, 60_000);

  it('builds a support bundle of schema metadata', async () => {
    const { code, record } = await command(['support-bundle']);
    expect(code).toBe(0);
    expect(record.output!.bundle!.connections[0]!.connection).toBe(enrolled.connectionId);
  }, 60_000);

  it('refuses a bad config with every problem and keeps running on the old one; applies a good one', async () => {
    const good = readFileSync(enrolled.configFile, 'utf8');
    editConfig((doc) => {
      doc.hub['batchEvents'] = 0;
      doc.connections[0]!.sync['pageSize'] = -5;
    });
    const before = await startedAt();
    const refused = await command(['reload-config']);
    expect(refused.code).toBe(1);
    expect(refused.record.status).toBe('failed');
    expect(refused.record.message).toContain('the running config stays');
    expect(refused.record.message).toContain('batchEvents');
    expect(refused.record.message).toContain('pageSize');
    expect(await startedAt()).toBe(before);

    writeFileSync(enrolled.configFile, good);
    editConfig((doc) => {
      doc.hub['remote'] = { logs: false };
    });
    const applied = await command(['reload-config']);
    expect(applied.code).toBe(0);
    expect(applied.record.message).toContain('restarting');
    await until('the agent on the new config', async () => {
      const now = await startedAt();
      return now && now !== before ? now : undefined;
    });
    // The practice turned logs off: the hub is told so, plainly.
    const logs = await command(['logs']);
    expect(logs.code).toBe(3);
    expect(logs.record.status).toBe('refused');
    expect(logs.record.message).toContain('hub.remote.logs: false');
  }, 120_000);

  it('keeps the history with who asked, and an offline site is told so', async () => {
    const history = await hubAdmin<{ commands: CommandRecord[] }>(hub!.configFile, [
      'site',
      'commands',
      siteId,
    ]);
    expect(history.commands.map((c) => `${c.name}:${c.status}`)).toEqual([
      'logs:refused',
      'reload-config:ok',
      'reload-config:failed',
      'support-bundle:ok',
      'logs:ok',
      'restart:ok',
    ]);
    expect(history.commands.every((c) => c.actor === 'admin' && c.output === undefined)).toBe(true);
    await agent!.stop();
    agent = undefined;
    await until('the link to close', async () => ((await startedAt()) === undefined ? true : undefined));
    const offline = await command(['restart']);
    expect(offline.code).toBe(3);
    expect(offline.record.message).toContain('offline');
  }, 90_000);
});
