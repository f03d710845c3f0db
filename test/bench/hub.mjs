// `pnpm bench hub [--events N] [--links N] [--bookings N] [--only relay|links|writeback]`: the hub's
// three figures, each against a baseline measured in the same run (docs/hub.md "Performance"):
//  (a) relay throughput agent outbox → link → hub → PostgreSQL, vs the raw `pg` insert of the same
//      events in batches of the same size;
//  (b) N idle agent links on one hub node pinging every 10 s: RSS and CPU per link, vs a bare `ws`
//      server holding the same links and answering the same pings;
//  (c) writeback round trip vendor → hub → agent → written, p50/p95, vs the same booking through the
//      agent's own API (OpenEMR's real schema on MariaDB).
// Loopback only; stops by itself.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import mysql from 'mysql2/promise';
import pg from 'pg';

const root = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const dist = (pkg) => join(root, pkg, 'dist/index.js');
const hubDist = await import(dist('packages/hub'));
const { startHubNode, validateHubConfig, silentHubLogger, openHubDatabase, hubStores } = hubDist;
const { startHubLink } = await import(join(root, 'packages/agent/dist/hub/link-client.js'));
const { createRootLogger } = await import(dist('packages/agent'));
const { createApiServer, generateApiKey } = await import(dist('packages/api'));
const { ConnectionConfig, resourceId, sha256Hex } = await import(dist('core'));
const { createWritebackWorker, silentLogger, syncStream } = await import(dist('scheduler'));
const { createSqlClient } = await import(dist('packages/sql'));
const { openSqliteStore } = await import(dist('packages/store'));
const { openEmr } = await import(dist('connectors/openemr'));
const WebSocket = createRequire(join(root, 'packages/hub/package.json'))('ws');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}
const EVENTS = Number(arg('events', '20000'));
const LINKS = Number(arg('links', '1000'));
const BOOKINGS = Number(arg('bookings', '60'));
const ONLY = arg('only', 'all');
const PG_SERVER = process.env.TENDRIL_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432';
const MARIADB = { host: '127.0.0.1', port: 3306, user: 'root', password: '' };
const CLI = join(root, 'packages/agent/dist/bin.js');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
const quiet = createRootLogger({ level: 'silent' });

async function withDatabase(fn) {
  const name = `tendril_hub_bench_${randomBytes(4).toString('hex')}`;
  const url = new URL(PG_SERVER);
  const admin = new pg.Client({
    connectionString: `${url.origin}/postgres`.replace('postgres:', 'postgres:'),
  });
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  await client.query(`CREATE DATABASE ${name}`);
  url.pathname = `/${name}`;
  try {
    return await fn(url.toString());
  } finally {
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await client.end();
    void admin;
  }
}

async function startNode(dbUrl, dir) {
  const config = validateHubConfig({ store: { postgres: dbUrl }, dataDir: dir, listen: { port: 0 } }).config;
  return startHubNode({ config, logger: silentHubLogger, version: 'bench' });
}

async function enroll(node, connector) {
  const site = await node.admin.run('site.create', { name: 'Bench Dental', connector });
  const response = await fetch(`${node.url}/v1/enroll`, {
    method: 'POST',
    headers: { authorization: `Bearer ${site.enrollmentKey}` },
  });
  const body = await response.json();
  return { siteId: site.siteId, connectionId: site.connectionIds[0], credential: body.credential };
}

// (a) ------------------------------------------------------------------------------------------
async function relayBench() {
  return withDatabase(async (dbUrl) => {
    const dir = mkdtempSync(join(tmpdir(), 'tendril-hub-bench-'));
    // The hub in its own process, as in production: agent and hub do not share an event loop.
    const hubConfig = join(dir, 'hub.yaml');
    writeFileSync(
      hubConfig,
      `store: { postgres: "${dbUrl}" }\ndataDir: ${join(dir, 'data')}\nlisten: { host: 127.0.0.1, port: 0 }\nlogLevel: ${process.env.HUB_BENCH_LOG ?? 'warn'}\n${process.env.HUB_BENCH_CREDIT ? `link: { credit: ${process.env.HUB_BENCH_CREDIT} }\n` : ''}`,
    );
    const profile = process.env.HUB_BENCH_PROFILE_DIR
      ? ['--cpu-prof', `--cpu-prof-dir=${process.env.HUB_BENCH_PROFILE_DIR}`]
      : [];
    const hubProcess = spawn(process.execPath, [...profile, CLI, 'hub', '--config', hubConfig], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const [, hubUrl] = await waitForLine(hubProcess, /running on (http:\/\/[^ ]+)/);
    const node = {
      url: hubUrl,
      admin: {
        run: async (op, args) => {
          const token = readFileSync(join(dir, 'data', 'admin-token'), 'utf8').trim();
          const { url } = JSON.parse(readFileSync(join(dir, 'data', 'admin.json'), 'utf8'));
          const response = await fetch(`${url}/admin/v1/${op}`, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            body: JSON.stringify(args),
          });
          return (await response.json()).result;
        },
      },
      stop: async () => {
        hubProcess.kill('SIGTERM');
        await new Promise((r) => hubProcess.once('exit', r));
      },
    };
    let link;
    const store = openSqliteStore(join(dir, 'agent.db'));
    const db = new pg.Client({ connectionString: dbUrl });
    await db.connect();
    try {
      await store.migrate();
      const { siteId, connectionId, credential } = await enroll(node, 'open-dental');
      // The agent's outbox: EVENTS patient events of about 1 KB each.
      for (let start = 0; start < EVENTS; start += 1000) {
        const changes = [];
        for (let i = start; i < Math.min(EVENTS, start + 1000); i++) {
          const id = resourceId(connectionId, 'Patient', String(i));
          changes.push({
            resourceType: 'Patient',
            sourceId: String(i),
            resourceId: id,
            kind: 'created',
            hash: sha256Hex(String(i)),
            refs: {},
            data: {
              resourceType: 'Patient',
              id,
              name: [{ family: `Family${i}`, given: [`Given${i}`] }],
              birthDate: '1980-01-01',
              telecom: [{ system: 'phone', value: `+1555${String(i).padStart(7, '0')}` }],
              address: [
                { line: [`${i} Main Street`], city: 'Springfield', state: 'IL', postalCode: '62701' },
              ],
              note: 'x'.repeat(600),
              meta: { sourceUpdatedAt: '2026-01-01T00:00:00Z', hash: sha256Hex(String(i)) },
            },
          });
        }
        await store.commitPage({
          connectionId,
          connectorId: 'open-dental',
          stream: 'patients',
          changes,
          seen: [],
          state: { mode: 'timestamp' },
          seenAt: new Date().toISOString(),
        });
      }
      const events = [];
      for (let after = 0; ;) {
        const page = await store.listEvents({ connectionId, afterSequence: after, limit: 5000 });
        if (page.length === 0) break;
        events.push(...page);
        after = page[page.length - 1].envelope.sequence;
      }

      // Baseline: the raw driver inserting the same events, 500 per transaction, with the statement
      // the hub's log write uses (one array per column), into a table of the same shape and index.
      await db.query(`CREATE TABLE raw_events (site_id TEXT, site_seq BIGINT, connection_id TEXT, event_id TEXT, sequence BIGINT,
        type TEXT, resource_type TEXT, resource_id TEXT, kind TEXT, source_id TEXT, connector_id TEXT, refs JSON, envelope JSON, received_at TIMESTAMPTZ)`);
      await db.query('CREATE INDEX ON raw_events (site_id, site_seq)');
      const rawStart = performance.now();
      for (let i = 0; i < events.length; i += 500) {
        const batch = events.slice(i, i + 500);
        const col = (pick) => batch.map(pick);
        await db.query('BEGIN');
        await db.query(
          `INSERT INTO raw_events SELECT $1, *, now() FROM unnest($2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::text[],
             $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],
             ARRAY(SELECT v FROM json_array_elements($12::json) WITH ORDINALITY AS j(v, n) ORDER BY n),
             ARRAY(SELECT v FROM json_array_elements($13::json) WITH ORDINALITY AS j(v, n) ORDER BY n))`,
          [
            siteId,
            col((_, j) => i + j + 1),
            col(() => connectionId),
            col((e) => e.envelope.id),
            col((e) => e.envelope.sequence),
            col((e) => e.envelope.type),
            col((e) => e.envelope.resourceType),
            col((e) => e.envelope.resourceId),
            col((e) => e.kind),
            col((e) => e.sourceId),
            col((e) => e.connectorId),
            JSON.stringify(col((e) => e.refs)),
            JSON.stringify(col((e) => e.envelope)),
          ],
        );
        await db.query('COMMIT');
      }
      const rawSeconds = (performance.now() - rawStart) / 1000;
      // The statement shape the hub used before (and this baseline with it): the JSON columns as a
      // json[] literal, every quote escaped by the driver. Shown so that runs before and after the
      // change compare (docs/hub.md, "Performance").
      await db.query('TRUNCATE raw_events');
      const literalStart = performance.now();
      for (let i = 0; i < events.length; i += 500) {
        const batch = events.slice(i, i + 500);
        const col = (pick) => batch.map(pick);
        await db.query('BEGIN');
        await db.query(
          `INSERT INTO raw_events SELECT $1, *, now() FROM unnest($2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::text[],
             $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::json[], $13::json[])`,
          [
            siteId,
            col((_, j) => i + j + 1),
            col(() => connectionId),
            col((e) => e.envelope.id),
            col((e) => e.envelope.sequence),
            col((e) => e.envelope.type),
            col((e) => e.envelope.resourceType),
            col((e) => e.envelope.resourceId),
            col((e) => e.kind),
            col((e) => e.sourceId),
            col((e) => e.connectorId),
            col((e) => JSON.stringify(e.refs)),
            col((e) => JSON.stringify(e.envelope)),
          ],
        );
        await db.query('COMMIT');
      }
      const literalSeconds = (performance.now() - literalStart) / 1000;

      const relayStart = performance.now();
      // CPU used during the relay by each side (the machine is shared: rates move with its load, CPU
      // per event much less).
      const hubCpuBefore = procStats(hubProcess.pid).cpuSeconds;
      const agentCpuBefore = process.cpuUsage();
      link = startHubLink({
        hub: { url: node.url, siteId, credential, batchEvents: 500 },
        store,
        logger: quiet,
        writeback: {
          store,
          // The relay sends the outbox of the configured connections.
          connections: [
            ConnectionConfig.parse({
              id: connectionId,
              connector: 'open-dental',
              timezone: 'UTC',
              database: { url: 'sqlite::memory:' },
            }),
          ],
          connectorFor: () => openEmr,
          kick: () => undefined,
        },
        status: async () => ({
          generatedAt: new Date().toISOString(),
          agent: { state: 'running', readStaleMinutes: 150, uptimeSeconds: 1 },
          store: { ok: true },
          connections: [],
        }),
        version: 'bench',
        env: {},
      });
      for (;;) {
        const { rows } = await db.query('SELECT last_event_seq FROM hub_sites WHERE id = $1', [siteId]);
        // The site's own site.online event takes one number too.
        if (Number(rows[0].last_event_seq) >= events.length + 1) break;
        await sleep(5);
      }
      const relaySeconds = (performance.now() - relayStart) / 1000;
      const hubCpu = procStats(hubProcess.pid).cpuSeconds - hubCpuBefore;
      const agentUsage = process.cpuUsage(agentCpuBefore);
      const agentCpu = (agentUsage.user + agentUsage.system) / 1e6;
      const raw = events.length / rawSeconds;
      const relay = events.length / relaySeconds;
      console.log(
        `(a) relay throughput, ${events.length} events of ~${Math.round(JSON.stringify(events[0].envelope).length / 100) / 10} KB`,
      );
      console.log(
        `    raw pg insert (500 per transaction, same statement shape and index): ${Math.round(raw)} events/s`,
      );
      console.log(`    agent outbox → link → hub → PostgreSQL: ${Math.round(relay)} events/s`);
      const literal = events.length / literalSeconds;
      console.log(
        `    raw pg insert, the JSON columns as a json[] literal (the earlier statement shape): ${Math.round(literal)} events/s`,
      );
      console.log(`    ratio relay/raw: ${(relay / raw).toFixed(2)} (target ≥ 0.5)`);
      console.log(
        `    ratio relay/raw (json[] literal baseline, as measured before): ${(relay / literal).toFixed(2)}`,
      );
      console.log(
        `    CPU per 1,000 events during the relay: hub process ${Math.round((hubCpu * 1e6) / events.length)} ms, agent ${Math.round((agentCpu * 1e6) / events.length)} ms`,
      );
      return relay / raw;
    } finally {
      await link?.stop();
      await store.close();
      await db.end();
      await node.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

// (b) ------------------------------------------------------------------------------------------
function procStats(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;
  return { cpuSeconds: ticks / 100, rss };
}

/** Opens `count` links that say hello, then ping every 10 s (random phase); measures the server process. */
async function holdLinks(pid, url, hellos, settleMs, windowMs) {
  const before = procStats(pid);
  const sockets = [];
  const timers = [];
  for (let i = 0; i < hellos.length; i++) {
    const ws = new WebSocket(url);
    ws.on('error', () => undefined);
    await new Promise((resolveOpen, rejectOpen) => {
      ws.once('open', resolveOpen);
      ws.once('error', rejectOpen);
    });
    const welcomed = new Promise((r) => ws.once('message', r));
    ws.send(JSON.stringify(hellos[i]));
    await welcomed;
    sockets.push(ws);
    const phase = Math.random() * 10_000;
    timers.push(
      setTimeout(() => {
        const t = setInterval(
          () => ws.readyState === 1 && ws.send(JSON.stringify({ type: 'ping', id: `p${i}` })),
          10_000,
        );
        timers.push(t);
      }, phase),
    );
  }
  await sleep(settleMs);
  const start = procStats(pid);
  await sleep(windowMs);
  const end = procStats(pid);
  for (const t of timers) {
    clearTimeout(t);
    clearInterval(t);
  }
  for (const ws of sockets) ws.terminate();
  return {
    rssPerLinkKb: (start.rss - before.rss) / hellos.length / 1024,
    cpuPercent: ((end.cpuSeconds - start.cpuSeconds) / (windowMs / 1000)) * 100,
  };
}

async function waitForLine(child, pattern) {
  let out = '';
  return new Promise((resolveLine, rejectLine) => {
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const match = pattern.exec(out);
      if (match) resolveLine(match);
    });
    child.on('exit', (code) => rejectLine(new Error(`exited ${code}`)));
  });
}

async function linksBench() {
  return withDatabase(async (dbUrl) => {
    const dir = mkdtempSync(join(tmpdir(), 'tendril-hub-links-'));
    const children = [];
    try {
      // The sites and their credentials, straight into the hub's store.
      const hubDb = await openHubDatabase({ postgres: dbUrl });
      const stores = hubStores(hubDb);
      const now = new Date();
      const hellos = [];
      for (let i = 0; i < LINKS; i++) {
        const created = await stores.sites.createSite(
          { vendor: 'bench', name: `Practice ${i}`, connector: 'open-dental' },
          now,
        );
        const enrolled = await stores.sites.enroll(created.enrollmentKey, now);
        hellos.push({
          type: 'hello',
          id: `h${i}`,
          protocol: 1,
          siteId: created.site.id,
          credential: enrolled.credential,
          agentVersion: 'bench',
          connections: [],
        });
      }
      await hubDb.close();
      const config = join(dir, 'hub.yaml');
      writeFileSync(
        config,
        `store: { postgres: "${dbUrl}" }\ndataDir: ${join(dir, 'data')}\nlisten: { host: 127.0.0.1, port: 0 }\nlogLevel: warn\n`,
      );
      const hub = spawn(process.execPath, [CLI, 'hub', '--config', config], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      children.push(hub);
      const [, hubUrl] = await waitForLine(hub, /running on (http:\/\/[^ ]+)/);
      await sleep(3000);
      const hubLinks = await holdLinks(
        hub.pid,
        `${hubUrl.replace('http', 'ws')}/v1/agent/link`,
        hellos,
        12_000,
        30_000,
      );

      // Baseline: a bare ws server (same library) that answers hello and pings and does nothing else.
      const bareScript = `
        const { WebSocketServer } = require(${JSON.stringify(createRequire(join(root, 'packages/hub/package.json')).resolve('ws'))});
        const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
        wss.on('listening', () => console.log('bare on ' + wss.address().port));
        wss.on('connection', (ws) => ws.on('message', (d) => {
          const f = JSON.parse(String(d));
          ws.send(JSON.stringify(f.type === 'hello' ? { type: 'welcome', replyTo: f.id } : { type: 'pong', replyTo: f.id }));
        }));`;
      const bare = spawn(process.execPath, ['-e', bareScript], { stdio: ['ignore', 'pipe', 'inherit'] });
      children.push(bare);
      const [, barePort] = await waitForLine(bare, /bare on (\d+)/);
      await sleep(1000);
      const bareLinks = await holdLinks(bare.pid, `ws://127.0.0.1:${barePort}`, hellos, 12_000, 30_000);

      console.log(`(b) ${LINKS} idle links pinging every 10 s, one hub node (PostgreSQL)`);
      console.log(
        `    hub:      ${hubLinks.rssPerLinkKb.toFixed(1)} KB RSS per link, ${hubLinks.cpuPercent.toFixed(2)} % of a core (targets ≤ 100 KB, ≤ 5 %)`,
      );
      console.log(
        `    bare ws:  ${bareLinks.rssPerLinkKb.toFixed(1)} KB RSS per link, ${bareLinks.cpuPercent.toFixed(2)} % of a core`,
      );
      console.log(
        `    ratio hub/target: memory ${(hubLinks.rssPerLinkKb / 100).toFixed(2)}, CPU ${(hubLinks.cpuPercent / 5).toFixed(2)} (≤ 1 meets the target)`,
      );
      console.log(
        `    ratio hub/bare ws: memory ${(hubLinks.rssPerLinkKb / Math.max(0.1, bareLinks.rssPerLinkKb)).toFixed(2)}, CPU ${(hubLinks.cpuPercent / Math.max(0.01, bareLinks.cpuPercent)).toFixed(2)}`,
      );
      return hubLinks;
    } finally {
      for (const child of children) child.kill('SIGTERM');
      await sleep(500);
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

// (c) ------------------------------------------------------------------------------------------
async function writebackBench() {
  // The shared fixtures by the one rule (docs/testing.md, "Fixture schemas").
  const { fixturePath } = await import(join(root, 'packages/testing/dist/index.js'));
  const FIXTURES = fixturePath('openemr');
  const name = `tendril_hub_wb_${randomBytes(4).toString('hex')}`;
  const admin = await mysql.createConnection(MARIADB);
  await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci`);
  const emr = await mysql.createConnection({
    ...MARIADB,
    database: name,
    multipleStatements: true,
    dateStrings: true,
  });
  const dir = mkdtempSync(join(tmpdir(), 'tendril-hub-wb-'));
  let node, link, api, store, read, write;
  try {
    await emr.query("SET time_zone = '-07:00'");
    await emr.query(readFileSync(join(FIXTURES, 'database.sql'), 'utf8'));
    await emr.query(readFileSync(join(FIXTURES, 'example_patient_data.sql'), 'utf8'));
    await emr.query(readFileSync(join(FIXTURES, 'example_patient_users.sql'), 'utf8'));
    return await withDatabase(async (dbUrl) => {
      node = await startNode(dbUrl, join(dir, 'hub'));
      const { siteId, connectionId, credential } = await enroll(node, 'openemr');
      const url = `mysql://root@127.0.0.1:3306/${name}`;
      const connection = ConnectionConfig.parse({
        id: connectionId,
        connector: 'openemr',
        timezone: 'America/Phoenix',
        database: { url },
        sync: { settleSeconds: 0 },
        writeback: { enabled: true, database: { url } },
      });
      store = openSqliteStore(join(dir, 'agent.db'));
      await store.migrate();
      read = createSqlClient(connection.database);
      write = createSqlClient(connection.writeback.database, { pool: { min: 0, max: 8 } });
      await sleep(1100);
      for (const stream of ['patients', 'practitioners', 'offices'])
        await syncStream(
          { sql: read, store, logger: silentLogger },
          { connection, connector: openEmr, stream, full: true },
        );
      const [[user]] = await emr.query(
        'SELECT id FROM users WHERE authorized = 1 AND active = 1 ORDER BY id LIMIT 1',
      );
      const [patients] = await emr.query('SELECT pid FROM patient_data ORDER BY pid');
      const [[facility]] = await emr.query('SELECT id FROM facility ORDER BY id LIMIT 1');
      const worker = createWritebackWorker({
        store,
        logger: silentLogger,
        connections: [connection],
        connectorFor: () => openEmr,
        readClient: () => read,
        writeClient: () => write,
      });
      const writeback = {
        store,
        connections: [connection],
        connectorFor: () => openEmr,
        kick: () => worker.kick(),
        rateLimit: { perSecond: 10_000, burst: 10_000 },
      };
      api = createApiServer({
        host: '127.0.0.1',
        port: 0,
        status: async () => ({}),
        logger: { info() {}, warn() {}, error() {} },
        writeback,
      });
      const localBase = await api.listen();
      const localKey = generateApiKey();
      await store.writebacks.createApiKey({
        id: localKey.id,
        name: 'bench',
        secretHash: localKey.secretHash,
        connectionIds: [connectionId],
        subscriptionIds: [],
        createdAt: new Date().toISOString(),
      });
      link = startHubLink({
        hub: { url: node.url, siteId, credential, batchEvents: 500 },
        store,
        logger: quiet,
        writeback,
        status: async () => ({
          generatedAt: new Date().toISOString(),
          agent: { state: 'running', readStaleMinutes: 150, uptimeSeconds: 1 },
          store: { ok: true },
          connections: [],
        }),
        version: 'bench',
        env: {},
      });
      await link.whenLinked(30_000);
      const vendorKey = (await node.admin.run('api-key.create', { vendor: 'default', sites: '*' })).key;

      let slot = 0;
      const nextInput = (i) => {
        const n = slot++;
        const date = new Date(Date.now() + (2 + Math.floor(n / 40)) * 86_400_000).toISOString().slice(0, 10);
        const minutes = 7 * 60 + (n % 40) * 15;
        const start = new Date(
          `${date}T${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}:00-07:00`,
        );
        return {
          patientId: resourceId(connectionId, 'Patient', String(patients[i % patients.length].pid)),
          practitionerIds: [resourceId(connectionId, 'Practitioner', String(user.id))],
          locationId: resourceId(connectionId, 'Location', String(facility.id)),
          start: start.toISOString().replace('.000Z', 'Z'),
          end: new Date(start.getTime() + 15 * 60_000).toISOString().replace('.000Z', 'Z'),
        };
      };
      async function book(base, postPath, key, i) {
        const headers = { 'content-type': 'application/json', authorization: `Bearer ${key}` };
        const t0 = performance.now();
        const response = await fetch(`${base}${postPath}`, {
          method: 'POST',
          headers,
          body: JSON.stringify({
            command: 'Appointment.book',
            connectionId,
            idempotencyKey: `bench-${slot}-${i}`,
            input: nextInput(i),
          }),
        });
        const { id } = await response.json();
        for (;;) {
          const body = await (await fetch(`${base}/v1/writebacks/${id}`, { headers })).json();
          if (body.status !== 'accepted') {
            if (body.status !== 'written')
              throw new Error(`bench booking ${body.status}: ${JSON.stringify(body.error)}`);
            return performance.now() - t0;
          }
          await sleep(2);
        }
      }
      const series = async (base, postPath, key) => {
        for (let i = 0; i < 5; i++) await book(base, postPath, key, i); // warm-up
        const times = [];
        for (let i = 0; i < BOOKINGS; i++) times.push(await book(base, postPath, key, i));
        return times.sort((a, b) => a - b);
      };
      const local = await series(localBase, '/v1/writebacks', localKey.key);
      const viaHub = await series(node.url, `/v1/sites/${siteId}/writebacks`, vendorKey);
      console.log(
        `(c) writeback round trip (Appointment.book, OpenEMR on MariaDB), ${BOOKINGS} sequential bookings each`,
      );
      console.log(
        `    agent-local API: p50 ${pct(local, 50).toFixed(1)} ms, p95 ${pct(local, 95).toFixed(1)} ms`,
      );
      console.log(
        `    vendor → hub → agent → written: p50 ${pct(viaHub, 50).toFixed(1)} ms, p95 ${pct(viaHub, 95).toFixed(1)} ms`,
      );
      console.log(`    ratio p95 hub/local: ${(pct(viaHub, 95) / pct(local, 95)).toFixed(2)} (target ≤ 2)`);
      return pct(viaHub, 95) / pct(local, 95);
    });
  } finally {
    await link?.stop();
    await api?.close();
    await node?.stop();
    await read?.close();
    await write?.close();
    await store?.close();
    await emr.end();
    await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
    await admin.end();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (ONLY === 'all' || ONLY === 'relay') await relayBench();
if (ONLY === 'all' || ONLY === 'writeback') await writebackBench();
if (ONLY === 'all' || ONLY === 'links') await linksBench();
process.exit(0);
