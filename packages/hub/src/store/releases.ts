import { sql, type Kysely, type Selectable } from 'kysely';
import type { HubDatabase, HubReleaseTable } from '../db/schema.js';
import type { UpgradeRelease } from '../link/protocol.js';

/** A stored release without its bytes (what lists, the CLI and the console show). */
export interface ReleaseRecord {
  readonly version: string;
  readonly platform: string;
  readonly fileName: string;
  readonly sha256: string;
  readonly signature: string;
  readonly bytes: number;
  readonly addedAt: string;
  readonly addedBy: string;
}

/** Where on the hub's HTTP address an agent downloads a release (docs/hub.md, "Remote upgrade"). */
export const releaseArtifactPath = (version: string) =>
  `/agent/v1/releases/${encodeURIComponent(version)}/artifact`;

/** How much of a tarball one read takes: the route streams slices, never the whole row. */
export const RELEASE_SLICE_BYTES = 1024 * 1024;

const META = [
  'version',
  'platform',
  'file_name',
  'sha256',
  'signature',
  'bytes',
  'added_at',
  'added_by',
] as const;

function toRecord(row: Omit<Selectable<HubReleaseTable>, 'content'>): ReleaseRecord {
  return {
    version: row.version,
    platform: row.platform,
    fileName: row.file_name,
    sha256: row.sha256,
    signature: row.signature,
    bytes: Number(row.bytes),
    addedAt: row.added_at,
    addedBy: row.added_by,
  };
}

/**
 * `hub_releases`: the agent releases this hub can hand out. In the database (not on one node's
 * disk) so that whichever node an agent's download lands on can serve it.
 */
export class ReleaseStore {
  constructor(private readonly db: Kysely<HubDatabase>) {}

  /** Stores a release; false when that version is stored already (a version is never replaced). */
  async add(
    release: Omit<ReleaseRecord, 'addedAt' | 'bytes'> & { content: Buffer },
    now: Date,
  ): Promise<boolean> {
    const inserted = await this.db
      .insertInto('hub_releases')
      .values({
        version: release.version,
        platform: release.platform,
        file_name: release.fileName,
        sha256: release.sha256,
        signature: release.signature,
        bytes: release.content.length,
        content: release.content,
        added_at: now,
        added_by: release.addedBy,
      })
      .onConflict((oc) => oc.column('version').doNothing())
      .executeTakeFirst();
    return Number(inserted.numInsertedOrUpdatedRows ?? 0n) > 0;
  }

  /** Every stored release, newest first (by when it was added). */
  async list(): Promise<ReleaseRecord[]> {
    const rows = await this.db
      .selectFrom('hub_releases')
      .select([...META])
      .orderBy('added_at', 'desc')
      .orderBy('version', 'desc')
      .execute();
    return rows.map(toRecord);
  }

  async get(version: string): Promise<ReleaseRecord | undefined> {
    const row = await this.db
      .selectFrom('hub_releases')
      .select([...META])
      .where('version', '=', version)
      .executeTakeFirst();
    return row ? toRecord(row) : undefined;
  }

  async remove(version: string): Promise<boolean> {
    const result = await this.db.deleteFrom('hub_releases').where('version', '=', version).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  /**
   * One slice of the tarball (`substring` on the bytea, 1-based in SQL): the download route reads
   * a 20 MB release a slice at a time. Undefined when the release was removed meanwhile.
   */
  async slice(version: string, offset: number, length: number): Promise<Buffer | undefined> {
    const row = await sql<{
      part: Uint8Array;
    }>`SELECT substring(content FROM ${offset + 1}::int FOR ${length}::int) AS part
      FROM hub_releases WHERE version = ${version}`.execute(this.db);
    const part = row.rows[0]?.part;
    return part === undefined ? undefined : Buffer.from(part);
  }

  /** What an `upgrade` command carries (protocol.ts, `UpgradeRelease`). */
  static commandRelease(release: ReleaseRecord): UpgradeRelease {
    return {
      version: release.version,
      sha256: release.sha256,
      signature: release.signature,
      bytes: release.bytes,
      path: releaseArtifactPath(release.version),
    };
  }
}
