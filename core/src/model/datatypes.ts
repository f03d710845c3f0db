import { z } from 'zod';

/** A framework id (UUIDv5). */
export const Id = z
  .string()
  .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'must be a lower-case UUID');
/** `YYYY-MM-DD`, never turned into an instant. */
export const IsoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be YYYY-MM-DD');
/** ISO-8601 UTC with `Z`, at most milliseconds. */
export const Instant = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/, 'must be an ISO-8601 UTC instant ending in Z');
const NonEmpty = z.string().min(1);

export const Coding = z.object({ system: NonEmpty, code: NonEmpty, display: NonEmpty.optional() }).strict();
export type Coding = z.infer<typeof Coding>;

export const CodeableConcept = z
  .object({ coding: z.array(Coding).min(1), text: NonEmpty.optional() })
  .strict();
export type CodeableConcept = z.infer<typeof CodeableConcept>;

export const Money = z
  .object({ value: z.number().finite(), currency: z.string().regex(/^[A-Z]{3}$/) })
  .strict();
export type Money = z.infer<typeof Money>;

export const IdentifierType = z.enum(['MR', 'SS', 'NPI', 'TAX', 'MB', 'AN', 'DL', 'PRN']);
export const Identifier = z
  .object({ system: NonEmpty, value: NonEmpty, type: IdentifierType.optional() })
  .strict();
export type Identifier = z.infer<typeof Identifier>;

export const ContactPoint = z
  .object({
    system: z.enum(['phone', 'email', 'sms', 'fax']),
    value: NonEmpty,
    use: z.enum(['home', 'work', 'mobile']).optional(),
    rank: z.number().int().positive().optional(),
    ext: NonEmpty.optional(),
  })
  .strict();
export type ContactPoint = z.infer<typeof ContactPoint>;

export const Address = z
  .object({
    use: z.enum(['home', 'work', 'billing', 'temp']).optional(),
    line: z.array(NonEmpty),
    city: NonEmpty.optional(),
    state: NonEmpty.optional(),
    postalCode: NonEmpty.optional(),
    country: NonEmpty.optional(),
  })
  .strict();
export type Address = z.infer<typeof Address>;

export const HumanName = z
  .object({
    family: NonEmpty.optional(),
    given: z.array(NonEmpty).optional(),
    prefix: z.array(NonEmpty).optional(),
    suffix: z.array(NonEmpty).optional(),
  })
  .strict();
export type HumanName = z.infer<typeof HumanName>;

export const Period = z
  .object({ start: Instant.or(IsoDate).optional(), end: Instant.or(IsoDate).optional() })
  .strict();
export type Period = z.infer<typeof Period>;

export const Meta = z
  .object({
    source: z.object({ system: NonEmpty, version: NonEmpty.optional(), connectionId: NonEmpty }).strict(),
    sourceUpdatedAt: Instant.optional(),
    syncedAt: Instant,
    hash: z.string().regex(/^[0-9a-f]{64}$/),
    deleted: z.literal(true).optional(),
  })
  .strict();
export type Meta = z.infer<typeof Meta>;

/** Fields every resource carries (docs/standard-model.md, "Resource fields"). */
export const resourceBase = {
  id: Id,
  sourceId: NonEmpty,
  meta: Meta.optional(),
  identifiers: z.array(Identifier).optional(),
};
