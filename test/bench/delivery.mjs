// `pnpm bench delivery [--events N] [--concurrency C] [--no-profile] [--json]`: raw undici POSTs to a
// loopback receiver vs Tendril's dispatcher (outbox read + lease, format, sign, send, record the
// attempt) at equal concurrency, in one run. The receiver runs in its own process so both sides
// share it equally. Then where the dispatcher's time goes, stage by stage, from a CPU profile of an
// extra run (the measured runs are not profiled). `--json` prints one JSON line last.
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inUrl, named, printStages, profiled, stageTimes } from './stage-profile.mjs';

const root = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const dist = (pkg) => join(root, pkg, 'dist/index.js');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}

/** The receiver process's CPU milliseconds so far (user + system), asked over its IPC channel. */
function receiverCpuMs(child) {
  return new Promise((resolvePromise) => {
    const onMessage = (m) => {
      if (m?.cpuMs === undefined) return;
      child.off('message', onMessage);
      resolvePromise(m.cpuMs);
    };
    child.on('message', onMessage);
    child.send('cpu');
  });
}

/**
 * Runs `measure` and adds what the receiver spent meanwhile: its CPU per 1,000 requests, and how
 * many cores the client and the receiver kept busy together. When that is close to the machine's
 * cores, the run is bound by the machine's CPU, and no ratio can beat the ratio of the CPU each side
 * needs per request, client and receiver together.
 */
async function withReceiverCpu(child, events, measure) {
  const before = await receiverCpuMs(child);
  const result = await measure();
  const receiverMs = (await receiverCpuMs(child)) - before;
  const receiverCpuMsPer1k = (receiverMs / events) * 1000;
  const coresBusy = ((result.cpuMsPer1k + receiverCpuMsPer1k) * events) / 1000 / 1000 / result.seconds;
  return { ...result, receiverCpuMsPer1k, coresBusy };
}

function startReceiver() {
  return new Promise((resolvePromise) => {
    const child = fork(fileURLToPath(import.meta.url), ['--receiver'], { stdio: 'inherit' });
    child.once('message', ({ port }) => resolvePromise({ child, url: `http://127.0.0.1:${port}/webhook` }));
  });
}

async function rawUndici(url, events, concurrency, body) {
  const { Agent, request } = await import(join(root, 'test/node_modules/undici/index.js'));
  const agent = new Agent({ connections: concurrency, keepAliveTimeout: 30_000 });
  let next = 0;
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < events) {
        next++;
        const res = await request(url, {
          method: 'POST',
          dispatcher: agent,
          headers: { 'content-type': 'application/json' },
          body,
        });
        await res.body.dump();
        if (res.statusCode !== 204) throw new Error(`raw: status ${res.statusCode}`);
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpuMs = cpuMsSince(cpu);
  await agent.close();
  return { seconds, perSecond: events / seconds, cpuMsPer1k: (cpuMs / events) * 1000 };
}

/**
 * CPU milliseconds this process used since `start` (user + system). On a shared machine the CPU a
 * delivery costs is steadier than the wall-clock rate: neighbours slow the rate, not the work.
 */
function cpuMsSince(start) {
  const { user, system } = process.cpuUsage(start);
  return (user + system) / 1000;
}

/** Stages of a delivery: lease → render → sign → send → record the attempt. */
const DELIVERY_STAGES = [
  ['sign (HMAC)', named(/signWebhook/)],
  ['render (format the event)', named(/render|formatEvent/)],
  ['lease', named(/lease/i, 'packages/store')],
  ['record the attempt', named(/complete/i, 'packages/store')],
  ['send (undici, HTTP)', inUrl('/undici/', 'http-sender.js', 'node:net', 'node:_http')],
  // Native frames have no url: undici's parser and the socket's writes, SQLite's statement calls.
  [
    'send (undici, HTTP)',
    ({ url, functionName }) =>
      url === '' && /^(dispatch|writev|writeUtf8String|writeBuffer)$/.test(functionName),
  ],
  [
    'store (SQLite statements)',
    ({ url, functionName }) => url === '' && /^(run|all|get|iterate|exec)$/.test(functionName),
  ],
  ['store (other)', inUrl('packages/store/dist', '/kysely/', 'better-sqlite3'), { weak: true }],
  ['dispatcher', inUrl('packages/delivery/dist'), { weak: true }],
];

async function tendrilDispatcher(url, events, concurrency, dir, { profile = false } = {}) {
  const core = await import(dist('core'));
  const { openSqliteStore } = await import(dist('packages/store'));
  const delivery = await import(dist('packages/delivery'));
  const subscription = core.SubscriptionConfig.parse({
    id: 'bench',
    url,
    allowInsecure: true,
    secrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
  });
  const config = {
    subscriptions: [subscription],
    delivery: core.DeliveryConfig.parse({ concurrency, jitter: 0 }),
  };
  const store = openSqliteStore(join(dir, 'store.db'), {
    deliveryRoutes: delivery.deliveryRoutesFromConfig(config),
  });
  await store.migrate();
  // The outbox and its delivery rows, as sync would leave them (not timed).
  const page = 1000;
  for (let offset = 0; offset < events; offset += page) {
    const changes = [];
    for (let i = offset; i < Math.min(events, offset + page); i++) {
      const sourceId = String(i + 1);
      const id = core.resourceId('bench', 'Patient', sourceId);
      const resource = {
        resourceType: 'Patient',
        id,
        sourceId,
        name: [{ family: `Family${i}`, given: ['Ana'] }],
        birthDate: '1980-01-01',
      };
      const hash = core.resourceHash(resource);
      changes.push({
        resourceType: 'Patient',
        sourceId,
        resourceId: id,
        kind: 'created',
        hash,
        data: { ...resource, meta: { hash } },
        refs: {},
      });
    }
    await store.commitPage({
      connectionId: 'bench',
      connectorId: 'open-dental',
      stream: 'patient',
      changes,
      seen: [],
      state: { mode: 'timestamp', watermark: '2025-01-01 00:00:00' },
      seenAt: new Date().toISOString(),
    });
  }
  const silent = { debug() {}, info() {}, warn() {}, error() {} };
  const dispatcher = delivery.createDispatcher({
    store,
    subscriptions: delivery.resolveSubscriptions(config),
    logger: silent,
    concurrency,
    settings: config.delivery,
  });
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  const drained = profile
    ? await profiled(() => dispatcher.drainOnce())
    : { result: await dispatcher.drainOnce() };
  const report = drained.result;
  // BENCH_CPUPROFILE=<file>: keep the profile, for Chrome DevTools or a closer look.
  if (drained.profile && process.env.BENCH_CPUPROFILE)
    writeFileSync(process.env.BENCH_CPUPROFILE, JSON.stringify(drained.profile));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpuMs = cpuMsSince(cpu);
  await dispatcher.stop();
  const delivered = await store.deliveries.count({ status: 'delivered' });
  const sample = (await store.listEvents({ limit: 1 }))[0];
  await store.close();
  if (delivered !== events) throw new Error(`tendril: ${delivered} of ${events} delivered`);
  return {
    seconds,
    perSecond: report.delivered / seconds,
    cpuMsPer1k: (cpuMs / events) * 1000,
    sampleBody: JSON.stringify(core.formatEvent(sample, 'json')),
    ...(drained.profile ? { stages: stageTimes(drained.profile, DELIVERY_STAGES) } : {}),
  };
}

async function main() {
  const events = Number(arg('events', '5000'));
  const concurrency = Number(arg('concurrency', '16'));
  const dir = mkdtempSync(join(tmpdir(), 'tendril_dlv_bench-'));
  const { child, url } = await startReceiver();
  try {
    // Warm-up, then the two measured runs; raw uses a body of the same shape and size as Tendril's.
    const tendril = await tendrilDispatcher(url, events, concurrency, dir);
    await rawUndici(url, Math.min(500, events), concurrency, tendril.sampleBody);
    const raw = await withReceiverCpu(child, events, () =>
      rawUndici(url, events, concurrency, tendril.sampleBody),
    );
    rmSync(join(dir, 'store.db'), { force: true });
    rmSync(join(dir, 'store.db-wal'), { force: true });
    rmSync(join(dir, 'store.db-shm'), { force: true });
    const tendril2 = await withReceiverCpu(child, events, () =>
      tendrilDispatcher(url, events, concurrency, dir),
    );
    const ratio = tendril2.perSecond / raw.perSecond;
    console.log('');
    console.log(
      `events                        ${events.toLocaleString('en-US')}   concurrency ${concurrency}   loopback receiver (separate process)`,
    );
    console.log(`raw undici POST               ${Math.round(raw.perSecond).toLocaleString('en-US')} req/s`);
    console.log(
      `tendril dispatcher            ${Math.round(tendril2.perSecond).toLocaleString('en-US')} deliveries/s   (lease from outbox → format → sign → send → record attempt)`,
    );
    console.log(`ratio tendril / raw           ${ratio.toFixed(2)}   (target ≥ 0.8)`);
    // The same comparison by CPU: this process's CPU per 1,000 requests, raw ÷ tendril.
    const cpuRatio = raw.cpuMsPer1k / tendril2.cpuMsPer1k;
    console.log(
      `CPU per 1k requests           raw ${raw.cpuMsPer1k.toFixed(0)} ms, tendril ${tendril2.cpuMsPer1k.toFixed(0)} ms   ratio raw / tendril ${cpuRatio.toFixed(2)}`,
    );
    // With the receiver's CPU: what the whole machine spends per request on each side, and how many
    // of its cores each run kept busy.
    const machineCpuRatio =
      (raw.cpuMsPer1k + raw.receiverCpuMsPer1k) / (tendril2.cpuMsPer1k + tendril2.receiverCpuMsPer1k);
    console.log(
      `receiver CPU per 1k           raw ${raw.receiverCpuMsPer1k.toFixed(0)} ms, tendril ${tendril2.receiverCpuMsPer1k.toFixed(0)} ms   machine CPU ratio ${machineCpuRatio.toFixed(2)}`,
    );
    console.log(
      `cores kept busy               raw ${raw.coresBusy.toFixed(2)}, tendril ${tendril2.coresBusy.toFixed(2)} of ${availableParallelism()}`,
    );
    let stages;
    if (!process.argv.includes('--no-profile')) {
      for (const file of ['store.db', 'store.db-wal', 'store.db-shm'])
        rmSync(join(dir, file), { force: true });
      stages = (await tendrilDispatcher(url, events, concurrency, dir, { profile: true })).stages;
      console.log('');
      printStages('where a delivery spends its time', stages, events);
    }
    if (process.argv.includes('--json'))
      console.log(
        JSON.stringify({
          ratio: Number(ratio.toFixed(3)),
          deliveriesPerSecond: Math.round(tendril2.perSecond),
          rawPerSecond: Math.round(raw.perSecond),
          cpuRatio: Number(cpuRatio.toFixed(3)),
          cpuMsPer1k: Math.round(tendril2.cpuMsPer1k),
          rawCpuMsPer1k: Math.round(raw.cpuMsPer1k),
          receiverCpuMsPer1k: Math.round(tendril2.receiverCpuMsPer1k),
          rawReceiverCpuMsPer1k: Math.round(raw.receiverCpuMsPer1k),
          machineCpuRatio: Number(machineCpuRatio.toFixed(3)),
          coresBusy: Number(tendril2.coresBusy.toFixed(2)),
          rawCoresBusy: Number(raw.coresBusy.toFixed(2)),
          events,
          concurrency,
          ...(stages
            ? { stagesMs: Object.fromEntries(Object.entries(stages).map(([k, v]) => [k, Math.round(v)])) }
            : {}),
        }),
      );
  } finally {
    child.send('stop');
    rmSync(dir, { recursive: true, force: true });
  }
}

// Entry point, last: the constants above are initialised by now.
if (process.argv.includes('--receiver')) {
  // Child: answer every POST with 204 after reading the body.
  let count = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      count++;
      res.writeHead(204);
      res.end();
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
  process.on('message', (m) => {
    if (m === 'count') process.send({ count });
    if (m === 'cpu') {
      const { user, system } = process.cpuUsage();
      process.send({ cpuMs: (user + system) / 1000 });
    }
    if (m === 'stop') server.close(() => process.exit(0));
  });
} else {
  await main();
}
