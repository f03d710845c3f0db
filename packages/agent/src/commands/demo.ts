import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatEvent, resourceId, sourceIdOf, type StoredEvent } from '@tendril/core';
import { createApiServer, generateApiKey } from '@tendril/api';
import { createSqlClient } from '@tendril/sql';
import { pino } from 'pino';
import { validateRawConfig } from '../config-file.js';
import { createAgentContainer } from '../container.js';
import { loadTestSupport } from '../connector-test-support.js';
import { renderSyncReport, runSyncOnce } from './sync.js';
import { deliverOnce } from './deliver.js';
import { generateWebhookSecret, startLoopbackReceiver, verifyWebhook } from '@tendril/delivery';
import type { CommandRegistrar } from '../cli-context.js';
import { writebackFor } from '../writeback/writeback-factory.js';
import type { Cradle } from '../container.js';
import { positiveInt } from '../cli-context.js';
import { demoHub } from '../hub/demo-hub.js';

export interface DemoOptions {
  patients: number;
  dir: string;
  out: (text: string) => void;
}

function utcStamp(date: Date): string {
  return date.toISOString().slice(0, 19).replace('T', ' ');
}

/**
 * The README's first command: the whole read flow on an embedded SQLite database shaped like
 * Open Dental's tables (built from the connector's own declarations), no server needed, then a
 * booking through Tendril's writeback API (to a fake of the Open Dental API) that comes back
 * through the next poll.
 */
export async function runDemo(options: DemoOptions): Promise<void> {
  const { out } = options;
  // The generator, the patient edits and the API fake are Open Dental's test support.
  const { seeding, editPatients, startOpenDentalApiFake } = await loadTestSupport(
    'open-dental',
    'tendril demo',
  );
  const dir = resolve(options.dir);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const ehrFile = join(dir, 'opendental.db');

  out(`1. Building an embedded Open Dental database (SQLite) at ${ehrFile}`);
  const ehr = createSqlClient({ url: `sqlite:${ehrFile}` });
  try {
    const tables = await seeding.createTables(ehr.knex, 'sqlite');
    out(`   created ${tables.length} tables from the connector's declarations: ${tables.join(', ')}`);
    const seeded = await seeding.seed(ehr.knex, {
      patients: options.patients,
      seed: 'demo',
      dialect: 'sqlite',
    });
    out(`   generated ${renderSeedRows(seeded)} in ${seeded.durationMs} ms`);
    await sleep(1100); // cursor columns have 1 s precision: the poll window ends before the current second

    // A FAKE of the Open Dental API on loopback, writing into this SQLite database: the demo has no
    // Open Dental office, and Open Dental allows outside writes only through its API.
    const odApi = await startOpenDentalApiFake({
      knex: ehr.knex,
      dialect: 'sqlite',
      developerKey: DEMO_DEVELOPER_KEY,
      customerKey: DEMO_CUSTOMER_KEY,
      timezone: 'America/New_York',
    });

    // A local webhook receiver (127.0.0.1) and a subscription to it: patient and appointment events,
    // Healthjump-style `flat` bodies, signed with a fresh Standard Webhooks secret.
    const receiver = await startLoopbackReceiver(() => ({ status: 204 }));
    const secret = generateWebhookSecret();
    const config = await validateRawConfig('demo config', {
      store: { sqlite: join(dir, 'tendril.db') },
      logLevel: 'warn',
      connections: [
        {
          id: 'demo-dental',
          connector: 'open-dental',
          timezone: 'America/New_York',
          database: { url: `sqlite:${ehrFile}` },
          // The demo polls seconds after its edits, so it does not wait for vendor transactions to settle.
          sync: { settleSeconds: 0, overlapSeconds: 900, pageSize: 1000 },
          // Writeback through the Open Dental API (here: the fake above), keys as a real site gives them.
          writeback: {
            enabled: true,
            api: { url: odApi.url, developerKey: DEMO_DEVELOPER_KEY, customerKey: DEMO_CUSTOMER_KEY },
          },
        },
      ],
      subscriptions: [
        {
          id: 'demo-receiver',
          url: receiver.url,
          allowInsecure: true,
          format: 'flat',
          eventTypes: ['patient.*', 'appointment.*'],
          secrets: [secret],
          policy: {
            healthyRetryPolicy: {
              minDelayTarget: 5,
              maxDelayTarget: 60,
              numRetries: 5,
              backoffFunction: 'exponential',
            },
          },
        },
      ],
    });
    // No site key in the demo: its output says the store is plain text, the log need not.
    const container = await createAgentContainer(config, pino({ level: 'warn' }, pino.destination(2)), {
      plaintextStoreWarning: false,
    });
    try {
      out('\n2. Backload: every row read, mapped to the standard model, hashed and written to the outbox');
      const backload = await runSyncOnce(container.cradle, {});
      out(indent(renderSyncReport(backload.report)));

      out(
        '\n3. Simulating edits in the EHR: 10 patients change, one appointment is broken, one patient is deleted',
      );
      const edited = await editPatients(ehr.knex, { count: 10, seed: 'demo-edit' });
      const stamp = utcStamp(new Date());
      const appointment = await ehr
        .knex('appointment')
        .where('AptStatus', 1)
        .orderBy('AptNum')
        .first<{ AptNum: number } | undefined>('AptNum');
      if (appointment)
        await ehr
          .knex('appointment')
          .where('AptNum', appointment.AptNum)
          .update({ AptStatus: 5, DateTStamp: stamp });
      const victim = await ehr
        .knex('patient')
        .where('PatStatus', 0)
        .whereNotIn('PatNum', edited)
        .orderBy('PatNum', 'desc')
        .first<{ PatNum: number } | undefined>('PatNum');
      if (victim)
        await ehr.knex('patient').where('PatNum', victim.PatNum).update({ PatStatus: 4, DateTStamp: stamp });
      await sleep(1100); // cursor columns have 1 s precision: let the edits' second close

      out('\n4. Incremental poll: only what changed');
      const poll = await runSyncOnce(container.cradle, {});
      out(indent(renderSyncReport(poll.report)));

      const events = await container.cradle.store.listEvents({
        connectionId: 'demo-dental',
        limit: 50,
        newestFirst: true,
      });
      const sample = events.find((e: StoredEvent) => e.envelope.type === 'patient.updated') ?? events[0];
      if (sample) {
        for (const format of ['json', 'fhir', 'flat'] as const) {
          out(`\n5. A sample event, format "${format}"`);
          out(indent(JSON.stringify(formatEvent(sample, format, { clientId: 'demo-dental' }), null, 2)));
        }
      }
      out(
        `\n6. Webhook delivery to a local receiver (${receiver.url}), subscription "demo-receiver", format flat`,
      );
      const delivered = await deliverOnce(container.cradle);
      out(
        indent(
          `delivered ${delivered.delivered} events in ${delivered.durationMs} ms (${delivered.attempted} signed requests, ${delivered.dead} dead letters, ${delivered.pending} pending)`,
        ),
      );
      const shown =
        receiver.requests.find((r) => r.body.toString('utf8').includes('"demographic"')) ??
        receiver.requests[0];
      if (shown) {
        const check = verifyWebhook({
          secrets: [{ secret }],
          headers: shown.headers,
          body: shown.body,
          now: Date.now(),
        });
        out(indent(`one delivery as received: POST ${shown.path}`));
        for (const name of [
          'webhook-id',
          'webhook-timestamp',
          'webhook-signature',
          'content-type',
          'user-agent',
        ]) {
          out(indent(`  ${name}: ${String(shown.headers[name])}`));
        }
        out(
          indent(`  body: ${shown.body.toString('utf8').slice(0, 300)}${shown.body.length > 300 ? '…' : ''}`),
        );
        out(
          indent(
            `signature verified with the subscription secret (Standard Webhooks v1): ${check.ok ? 'yes' : `NO (${check.reason})`}`,
          ),
        );
      }
      await demoWriteback(container.cradle, ehr, odApi.url, out);
      await demoHub({ dir, ehrFile, ehr, odApiUrl: odApi.url, out });

      out(
        `\nDone. The agent store is ${join(dir, 'tendril.db')} (plain text: the demo has no site key; docs/security.md); try:`,
      );
      out(`  bin/tendril events --config <your tendril.yaml> --format flat --limit 5`);
      out(`  bin/tendril deliveries list --config <your tendril.yaml> --status dead`);
    } finally {
      await container.dispose();
      await receiver.close();
      await odApi.close();
    }
  } finally {
    await ehr.close();
  }
}

const DEMO_DEVELOPER_KEY = 'demoDeveloperKey';
const DEMO_CUSTOMER_KEY = 'demoCustomerKey';

/**
 * Step 7: a vendor books an appointment through Tendril's HTTP API (an API key made for the demo
 * connection), the worker sends it to the Open Dental API (a fake of it, said plainly), the
 * result is read back, and the next poll brings the same appointment back as an ordinary event.
 */
async function demoWriteback(
  cradle: Cradle,
  ehr: ReturnType<typeof createSqlClient>,
  odApiUrl: string,
  out: (text: string) => void,
): Promise<void> {
  const connectionId = 'demo-dental';
  out(`\n7. Writeback: a vendor books an appointment through Tendril's API`);
  out(
    indent(
      `NOTE: the Open Dental API in this demo is a FAKE (${odApiUrl}), built from Open Dental's public API`,
    ),
  );
  out(indent(`documentation and writing into the demo's SQLite database. It is not Open Dental.`));
  const writeback = writebackFor(cradle);
  const api = createApiServer({
    host: '127.0.0.1',
    port: 0,
    status: async () => {
      throw new Error('the demo serves writeback routes only');
    },
    logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
    writeback: writeback.api,
  });
  try {
    const base = await api.listen();
    const key = generateApiKey();
    await cradle.store.writebacks.createApiKey({
      id: key.id,
      name: 'demo-vendor',
      secretHash: key.secretHash,
      connectionIds: [connectionId],
      subscriptionIds: [],
      createdAt: new Date().toISOString(),
    });
    out(
      indent(
        `API on ${base}; API key ${key.id} created for connection ${connectionId} (the secret is not shown)`,
      ),
    );
    const patient = await ehr
      .knex('patient')
      .where('PatStatus', 0)
      .orderBy('PatNum')
      .first<{ PatNum: number; PriProv: number } | undefined>('PatNum', 'PriProv');
    const op = await ehr
      .knex('operatory')
      .where('IsHidden', 0)
      .orderBy('OperatoryNum')
      .first<{ OperatoryNum: number } | undefined>('OperatoryNum');
    if (!patient || !op) {
      out(indent('no active patient or operatory in the demo database; writeback step skipped'));
      return;
    }
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${key.key}` };
    let result: Record<string, unknown> | undefined;
    // Try a few future slots: the generated schedule may already fill one.
    for (let attempt = 0; attempt < 12 && result?.['status'] !== 'written'; attempt++) {
      const day = new Date(Date.now() + (14 + attempt) * 86_400_000).toISOString().slice(0, 10);
      const start = new Date(`${day}T${String(12 + (attempt % 6)).padStart(2, '0')}:00:00Z`);
      const body = {
        command: 'Appointment.book',
        connectionId,
        idempotencyKey: `demo-book-${attempt}`,
        input: {
          patientId: resourceId(connectionId, 'Patient', String(patient.PatNum)),
          practitionerIds: [resourceId(connectionId, 'Practitioner', String(patient.PriProv))],
          operatoryId: resourceId(connectionId, 'Location', sourceIdOf(['op', String(op.OperatoryNum)])),
          start: start.toISOString().replace('.000Z', 'Z'),
          end: new Date(start.getTime() + 30 * 60_000).toISOString().replace('.000Z', 'Z'),
          note: 'booked through the Tendril demo',
        },
      };
      const accepted = await fetch(`${base}/v1/writebacks`, {
        method: 'POST',
        headers,
        body: JSON.stringify(body),
      });
      const { id } = (await accepted.json()) as { id: string };
      out(indent(`POST /v1/writebacks Appointment.book ${body.input.start} → ${accepted.status} ${id}`));
      for (let i = 0; i < 500; i++) {
        const current = (await (await fetch(`${base}/v1/writebacks/${id}`, { headers })).json()) as Record<
          string,
          unknown
        >;
        if (current['status'] !== 'accepted') {
          result = current;
          break;
        }
        await sleep(20);
      }
      const error = result?.['error'] as { code?: string } | null | undefined;
      out(
        indent(
          `GET /v1/writebacks/${id} → ${String(result?.['status'])}${error?.code ? ` (${error.code})` : ''}`,
        ),
      );
    }
    if (result?.['status'] !== 'written') return;
    const resource = result['resource'] as Record<string, unknown>;
    out(
      indent(
        `written: AptNum ${String(result['sourceId'])} in Open Dental, read back as ${String(resource['id'])}`,
      ),
    );
    out(
      indent(
        `  status ${String(resource['status'])}, ${String(resource['start'])} – ${String(resource['end'])}`,
      ),
    );
    await sleep(1100); // the write's DateTStamp second must close before the next poll reads it
    await runSyncOnce(cradle, {});
    const back = (await cradle.store.listEvents({ connectionId, limit: 200, newestFirst: true })).find(
      (e: StoredEvent) =>
        e.envelope.type.startsWith('appointment.') &&
        !e.envelope.type.includes('writeback') &&
        e.envelope.resourceId === resource['id'],
    );
    out(
      indent(
        back
          ? `next poll: ${back.envelope.type} ${back.envelope.resourceId} — the same id the writeback returned`
          : 'next poll: the appointment did not come back (check the sync report)',
      ),
    );
  } finally {
    await api.close();
    await writeback.close();
  }
}

/** `1,000 patient, 3 provider, …` for the tables that got rows. */
export function renderSeedRows(summary: { readonly rows: Readonly<Record<string, number>> }): string {
  return Object.entries(summary.rows)
    .filter(([, count]) => count > 0)
    .map(([table, count]) => `${count.toLocaleString('en-US')} ${table}`)
    .join(', ');
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `   ${line}`)
    .join('\n');
}

/** `tendril demo`. */
export const registerDemoCommand: CommandRegistrar = (program, ctx) => {
  program
    .command('demo')
    .description('run the whole read flow on an embedded SQLite Open Dental database (no server needed)')
    .option('--patients <n>', 'patients to generate', positiveInt, 2000)
    .option('--dir <dir>', 'where to keep the demo files', '.tendril/demo')
    .action(async (opts: { patients: number; dir: string }) => {
      await runDemo({ patients: opts.patients, dir: opts.dir, out: ctx.write });
    });
};
