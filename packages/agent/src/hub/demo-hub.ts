import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { resourceId, sourceIdOf } from '@tendril/core';
import { silentHubLogger, startHubNode, validateHubConfig, type HubNode } from '@tendril/hub';
import type { SqlClient } from '@tendril/sql';
import { pino } from 'pino';
import { Webhook } from 'standardwebhooks';
import { validateRawConfig } from '../config-file.js';
import { createAgentContainer } from '../container.js';
import { previewEnrollment, spendEnrollment } from './enroll.js';
import { startAgentHubLink } from './start-link.js';

const DEVELOPER_KEY = 'demoDeveloperKey';
const CUSTOMER_KEY = 'demoCustomerKey';

/**
 * The vendor's webhook endpoint in the demo: a plain HTTP server that does what a real receiver
 * must (docs/delivery.md, "Guarantees and receiver duties"): verify the signature over the raw
 * body with the `standardwebhooks` library before parsing anything, reject what does not verify,
 * and drop repeats of a `webhook-id`. It prints what it accepted.
 */
async function startVendorReceiver(out: (text: string) => void) {
  const seen = new Set<string>();
  const events: Record<string, unknown>[] = [];
  let webhook: Webhook | undefined;
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const id = String(request.headers['webhook-id'] ?? '');
      let event: Record<string, unknown>;
      try {
        if (!webhook) throw new Error('no secret yet');
        event = webhook.verify(body, {
          'webhook-id': id,
          'webhook-timestamp': String(request.headers['webhook-timestamp'] ?? ''),
          'webhook-signature': String(request.headers['webhook-signature'] ?? ''),
        }) as Record<string, unknown>;
      } catch {
        out(indent(`vendor webhook ✗ rejected a request whose signature did not verify (${id})`));
        response.writeHead(400).end();
        return;
      }
      response.writeHead(204).end();
      if (seen.has(id)) return;
      seen.add(id);
      events.push(event);
      const data = (event['data'] ?? {}) as Record<string, unknown>;
      const about =
        typeof data['idempotencyKey'] === 'string'
          ? ` idempotencyKey ${data['idempotencyKey']}`
          : typeof data['siteId'] === 'string'
            ? ` site ${data['siteId']}`
            : '';
      out(
        indent(
          `vendor webhook ← ${String(event['type'])}${about} (signature verified with standardwebhooks)`,
        ),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/webhooks/tendril`,
    events,
    /** The subscription's secret, as the hub returned it once. */
    useSecret(secret: string) {
      webhook = new Webhook(secret);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `   ${line}`)
    .join('\n');
}

/**
 * The demo's last step: a hub on PGlite in this process (no server), the practice enrolling with
 * it, its outbox relayed over the link, and a vendor booking through the hub: vendor → hub → agent
 * → EHR (through the Open Dental API fake) → result back at the hub, where the vendor reads it.
 */
export async function demoHub(options: {
  dir: string;
  ehrFile: string;
  ehr: SqlClient;
  odApiUrl: string;
  out: (text: string) => void;
}): Promise<void> {
  const { out } = options;
  out('\n8. The hub: the vendor side, on an embedded PostgreSQL (PGlite, in this process)');
  const hubConfig = validateHubConfig({
    dataDir: join(options.dir, 'hub'),
    listen: { host: '127.0.0.1', port: 0 },
    sites: { offlineAfterSeconds: 300 },
  });
  if (!hubConfig.ok) throw new Error('demo hub config');
  let hub: HubNode | undefined;
  let receiver: Awaited<ReturnType<typeof startVendorReceiver>> | undefined;
  const logger = pino({ level: 'warn' }, pino.destination(2));
  try {
    hub = await startHubNode({ config: hubConfig.config, logger: silentHubLogger, version: 'demo' });
    out(indent(`hub on ${hub.url} (data in ${join(options.dir, 'hub')})`));
    const site = (await hub.admin.run('site.create', {
      vendor: 'demo-vendor',
      name: 'Demo Dental',
      connector: 'open-dental',
      contactName: 'Front Desk',
      contactEmail: 'frontdesk@demo-dental.example',
    })) as { siteId: string; enrollmentKey: string; connectionIds: string[] };
    out(
      indent(
        `tendril hub site create → site ${site.siteId}, connection id ${site.connectionIds[0]} (unique across the hub)`,
      ),
    );
    const details = await previewEnrollment(hub.url, site.enrollmentKey);
    const enrolled = await spendEnrollment(hub.url, site.enrollmentKey);
    out(
      indent(
        `the practice enrolls (as tendril init --hub … --enroll … does): "${details.practiceName}", agent credential stored, key spent`,
      ),
    );

    const connectionId = enrolled.connectionIds[0]!;
    const config = await validateRawConfig('demo hub agent', {
      store: { sqlite: join(options.dir, 'hub-agent.db') },
      logLevel: 'warn',
      api: { host: '127.0.0.1', port: 0 },
      connections: [
        {
          id: connectionId,
          connector: 'open-dental',
          timezone: 'America/New_York',
          database: { url: `sqlite:${options.ehrFile}` },
          sync: { settleSeconds: 0, overlapSeconds: 900, pageSize: 1000 },
          writeback: {
            enabled: true,
            api: { url: options.odApiUrl, developerKey: DEVELOPER_KEY, customerKey: CUSTOMER_KEY },
          },
        },
      ],
      hub: { url: hub.url, siteId: enrolled.siteId, credential: enrolled.credential },
    });
    const key = (await hub.admin.run('api-key.create', { vendor: 'demo-vendor', sites: '*' })) as {
      key: string;
    };
    const headers = { authorization: `Bearer ${key.key}`, 'content-type': 'application/json' };
    // The vendor subscribes its webhook endpoint before the site links: site events and writeback
    // results (a real vendor may take everything; the demo keeps its output short).
    receiver = await startVendorReceiver(options.out);
    const subscribed = await fetch(`${hub.url}/v1/subscriptions`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        url: receiver.url,
        allowInsecure: true,
        eventTypes: ['site.*', 'appointment.writeback.*'],
      }),
    });
    const subscription = (await subscribed.json()) as { id: string; secret: string };
    if (subscribed.status !== 201)
      throw new Error(
        `the demo's subscription was refused (${subscribed.status}): ${JSON.stringify(subscription)}`,
      );
    receiver.useSecret(subscription.secret);
    out(
      indent(
        `vendor → hub: POST /v1/subscriptions (site.*, appointment.writeback.*) → ${subscribed.status} ${subscription.id}, secret whsec_… shown once`,
      ),
    );
    const container = await createAgentContainer(config, logger, { plaintextStoreWarning: false });
    const runtime = container.cradle.agentRuntime;
    try {
      await runtime.start(); // catch-up polls: the backload fills the outbox
      const link = startAgentHubLink(container.cradle, runtime, {});
      try {
        await link!.whenLinked(30_000);
        const get = async (path: string) =>
          (await (await fetch(`${hub!.url}${path}`, { headers })).json()) as Record<string, unknown>;
        const held = async () => {
          let count = 0;
          let after = '';
          for (;;) {
            const page = await get(
              `/v1/sites/${enrolled.siteId}/events?limit=1000${after ? `&after=${after}` : ''}`,
            );
            count += (page['events'] as unknown[]).length;
            after = String(page['next']);
            if (!page['more']) return count;
          }
        };
        const outbox = async () => container.cradle.store.countEvents(connectionId);
        for (let i = 0; i < 300; i++) {
          const [relayed, local] = [await held(), await outbox()];
          if (local > 0 && relayed > local) break; // the site's own site.online event is one more
          await sleep(100);
        }
        const siteView = await get(`/v1/sites/${enrolled.siteId}`);
        out(
          indent(
            `agent linked; GET /v1/sites/${enrolled.siteId} → online: ${String(siteView['online'])}, health: ${String(siteView['health'])}`,
          ),
        );
        out(
          indent(
            `relayed: ${await outbox()} outbox events → ${await held()} events in the hub's log (with site.online)`,
          ),
        );
        const page = await get(`/v1/sites/${enrolled.siteId}/events?limit=2`);
        const types = (page['events'] as { type: string }[]).map((e) => e.type).join(', ');
        out(
          indent(
            `GET /v1/sites/${enrolled.siteId}/events?limit=2 → ${types}; next cursor ${String(page['next'])}`,
          ),
        );

        const patient = await options.ehr
          .knex('patient')
          .where('PatStatus', 0)
          .orderBy('PatNum', 'desc')
          .first<{ PatNum: number; PriProv: number } | undefined>('PatNum', 'PriProv');
        const op = await options.ehr
          .knex('operatory')
          .where('IsHidden', 0)
          .orderBy('OperatoryNum')
          .first<{ OperatoryNum: number } | undefined>('OperatoryNum');
        if (!patient || !op) return;
        let result: Record<string, unknown> | undefined;
        for (let attempt = 0; attempt < 12 && result?.['status'] !== 'written'; attempt++) {
          const day = new Date(Date.now() + (30 + attempt) * 86_400_000).toISOString().slice(0, 10);
          const start = new Date(`${day}T${String(13 + (attempt % 5)).padStart(2, '0')}:00:00Z`);
          const body = {
            command: 'Appointment.book',
            connectionId,
            idempotencyKey: `demo-hub-book-${attempt}`,
            input: {
              patientId: resourceId(connectionId, 'Patient', String(patient.PatNum)),
              practitionerIds: [resourceId(connectionId, 'Practitioner', String(patient.PriProv))],
              operatoryId: resourceId(connectionId, 'Location', sourceIdOf(['op', String(op.OperatoryNum)])),
              start: start.toISOString().replace('.000Z', 'Z'),
              end: new Date(start.getTime() + 30 * 60_000).toISOString().replace('.000Z', 'Z'),
            },
          };
          const accepted = await fetch(`${hub.url}/v1/sites/${enrolled.siteId}/writebacks`, {
            method: 'POST',
            headers,
            body: JSON.stringify(body),
          });
          const { id } = (await accepted.json()) as { id: string };
          out(
            indent(
              `vendor → hub: POST /v1/sites/${enrolled.siteId}/writebacks Appointment.book → ${accepted.status} ${id}`,
            ),
          );
          for (let i = 0; i < 500; i++) {
            const state = await get(`/v1/writebacks/${id}`);
            if (state['status'] !== 'accepted') {
              result = state;
              break;
            }
            await sleep(20);
          }
          out(indent(`hub → agent → EHR → hub: GET /v1/writebacks/${id} → ${String(result?.['status'])}`));
        }
        if (result?.['status'] !== 'written') return;
        // The vendor keeps reading the log from where it stopped (its cursor) until the result is there.
        let cursor = String(page['next']);
        for (let i = 0; i < 100; i++) {
          const next = await get(`/v1/sites/${enrolled.siteId}/events?limit=1000&after=${cursor}`);
          cursor = String(next['next']);
          const events = next['events'] as { type: string; data: Record<string, unknown> }[];
          const back = events.find(
            (e) => e.type === 'appointment.writeback.written' && e.data['id'] === result['id'],
          );
          if (back) {
            out(
              indent(
                `the result event came back through the relay: ${back.type}, idempotencyKey ${String(back.data['idempotencyKey'])} (the vendor's own)`,
              ),
            );
            break;
          }
          if (!next['more']) await sleep(100);
        }
        // The same result reaches the vendor's webhook endpoint, signed by the hub.
        for (let i = 0; i < 200; i++) {
          const got = receiver.events.find(
            (e) =>
              e['type'] === 'appointment.writeback.written' &&
              (e['data'] as Record<string, unknown> | undefined)?.['id'] === result['id'],
          );
          if (got) {
            out(
              indent(
                `vendor → hub → agent → EHR → hub → vendor webhook: the booking's result arrived, verified (${receiver.events.length} webhooks received)`,
              ),
            );
            break;
          }
          await sleep(50);
        }
      } finally {
        await link?.stop();
      }
    } finally {
      await runtime.stop({ graceMs: 0 });
      await container.dispose();
    }
  } finally {
    await hub?.stop();
    await receiver?.close();
    logger.flush();
  }
}
