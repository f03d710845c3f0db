import { z } from 'zod';

const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/;

/**
 * `hub:` in tendril.yaml (docs/hub.md): the hub this agent dials out to, the site it was enrolled
 * as, and its agent credential (written by `tendril init --hub … --enroll …` as
 * `${secret:hub-credential}`). TLS (`https://`) is required unless the hub is on loopback.
 */
export const HubLinkConfig = z
  .object({
    url: z
      .string()
      .url('must be the hub URL, such as https://hub.example.com')
      .superRefine((value, ctx) => {
        let url: URL;
        try {
          url = new URL(value);
        } catch {
          return;
        }
        if (url.protocol === 'https:') return;
        if (url.protocol === 'http:' && LOOPBACK.test(url.hostname)) return;
        ctx.addIssue({
          code: 'custom',
          message: 'must be https:// (plain http:// only for a hub on this machine, 127.0.0.1 or localhost)',
        });
      }),
    siteId: z.string().min(1).max(200),
    credential: z
      .string()
      .min(1, 'the agent credential is empty; enroll with tendril init --hub <url> --enroll <key>'),
    /** Events per `events` frame (the hub's own limit applies too). */
    batchEvents: z.number().int().min(1).max(5000).default(500),
    /**
     * What the hub may ask of this agent (docs/hub.md, "Remote commands"): the practice decides.
     * `restart` also covers reload-config, `logs` also covers the support bundle.
     */
    remote: z
      .object({
        restart: z.boolean().default(true),
        logs: z.boolean().default(true),
        upgrade: z.boolean().default(true),
        /**
         * How long an upgraded agent has to report healthy (store open, scheduler started) before
         * its supervisor rolls back to the previous version (docs/hub.md, "Remote upgrade").
         */
        upgradeHealthSeconds: z.number().int().min(1).max(3600).default(120),
      })
      .strict()
      .default({ restart: true, logs: true, upgrade: true, upgradeHealthSeconds: 120 }),
  })
  .strict();
export type HubLinkConfig = z.infer<typeof HubLinkConfig>;

/** The secret name of the agent credential in secrets.enc. */
export const HUB_CREDENTIAL_SECRET = 'hub-credential';
