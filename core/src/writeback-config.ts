import { z } from 'zod';

/**
 * `connections[].writeback` (docs/writeback.md, "Configuration"): writes use their own credentials, never the read
 * login. Off unless `enabled`. The `sql` path needs `database` (a login with exactly the rights
 * `tendril grants --writeback` prints); the `vendor-api` path needs `api`.
 */
export const WritebackConnectionConfig = z
  .object({
    enabled: z.boolean().default(false),
    /** The write login, by URL (`mysql://tendril_writer:${WRITE_PASSWORD}@host/db`). */
    database: z
      .object({ url: z.string().min(1) })
      .strict()
      .optional(),
    /** Overrides the connector's preferred (vendor-sanctioned) path. */
    writePath: z.enum(['vendor-api', 'sql']).optional(),
    /** Allows the `sql` path for a vendor that forbids outside SQL writes. Fixture databases only. */
    allowUnsafeSqlWrites: z.boolean().default(false),
    /** The vendor API (Open Dental API: base URL, developer and customer keys). */
    api: z
      .object({
        url: z.string().url(),
        developerKey: z.string().min(1).optional(),
        customerKey: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
    /** Allow two appointments of one practitioner to overlap (the operatory check still applies). */
    providerDoubleBooking: z.boolean().default(false),
    /** `Patient.update` may change `birthDate` (docs/writeback.md, "What is implemented": explicit opt-in). */
    allowBirthDateUpdate: z.boolean().default(false),
    /** Who the EHR shows as author where it records one (OpenEMR `pc_informant`). */
    informant: z.string().min(1).max(20).default('tendril'),
    /** Vendor status codes for cancel and confirm (OpenEMR `apptstat`: `x`, `AVM`). */
    cancelStatus: z.string().min(1).max(15).optional(),
    confirmStatus: z.string().min(1).max(15).optional(),
    /** Default deadline after acceptance, seconds (docs/writeback.md: 10 minutes). */
    defaultDeadlineSeconds: z.number().int().min(1).max(86_400).default(600),
    /** How far ahead a booking (or a new time) may start, days; a request beyond it is a 400. */
    bookingHorizonDays: z.number().int().min(1).max(3650).default(730),
  })
  .strict();
export type WritebackConnectionConfig = z.infer<typeof WritebackConnectionConfig>;

/** The settings of a connection without a `writeback` block: everything off. */
export const WRITEBACK_DISABLED: WritebackConnectionConfig = WritebackConnectionConfig.parse({});
