import { Readable } from 'node:stream';
import { createRateLimiter } from '@tendril/core';
import type { FastifyInstance } from 'fastify';
import type { HubContext } from '../hub-context.js';
import { RELEASE_SLICE_BYTES } from '../store/releases.js';
import { problem } from './vendor-routes.js';

/** The site id and credential of `Authorization: Basic base64(siteId:credential)`. */
function basicCredentials(header: string | undefined): { siteId: string; credential: string } | undefined {
  const encoded = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header ?? '')?.[1];
  if (!encoded) return undefined;
  const text = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon <= 0) return undefined;
  return { siteId: text.slice(0, colon), credential: text.slice(colon + 1) };
}

/**
 * `GET /agent/v1/releases/<version>/artifact` (docs/hub.md, "Remote upgrade"): the tarball an
 * `upgrade` command names, for the agents of this hub only. The agent authenticates with the same
 * site id and credential as its link's `hello`, checked the same way (constant time, no side
 * effect on a pending rotation); the credential is checked before the version, so an outsider
 * learns nothing about which releases exist. The bytes are streamed from the database a slice at
 * a time with their `Content-Length`; the agent checks the SHA-256 and signature itself.
 */
export function releaseRoutes(ctx: HubContext) {
  const perAddress = createRateLimiter({ perSecond: 5, burst: 30 });
  const log = ctx.logger.child({ component: 'releases' });

  return async function plugin(app: FastifyInstance): Promise<void> {
    app.get<{ Params: { version: string } }>(
      '/agent/v1/releases/:version/artifact',
      async (request, reply) => {
        const wait = perAddress.take(request.ip);
        if (wait > 0)
          return problem(
            reply.header('retry-after', String(wait)),
            429,
            'rate_limited',
            'too many downloads from this address; retry later',
          );
        const presented = basicCredentials(request.headers.authorization);
        const checked = presented
          ? await ctx.sites.checkAgentCredential(presented.siteId, presented.credential)
          : undefined;
        if (!presented || !checked?.ok) {
          log.warn(
            {
              event: 'hub.release_download_refused',
              ip: request.ip,
              reason: checked && !checked.ok ? checked.reason : 'no-credentials',
            },
            'release download refused: credentials not accepted',
          );
          return problem(
            reply.header('www-authenticate', 'Basic realm="tendril-releases"'),
            401,
            'credential_invalid',
            'send Authorization: Basic base64(<site id>:<agent credential>), the site id and credential of the link',
          );
        }
        const version = request.params.version;
        const release = await ctx.releases.get(version);
        if (!release)
          return problem(
            reply,
            404,
            'release_not_found',
            'no release of this version is stored on the hub; the operator adds it with tendril hub release add',
          );
        log.info(
          { event: 'hub.release_download', siteId: presented.siteId, version: release.version },
          'release download',
        );
        const releases = ctx.releases;
        async function* slices() {
          for (let offset = 0; offset < release!.bytes; offset += RELEASE_SLICE_BYTES) {
            const part = await releases.slice(release!.version, offset, RELEASE_SLICE_BYTES);
            // Removed while streaming: end short; the agent's length and hash checks refuse it.
            if (!part || part.length === 0) return;
            yield part;
          }
        }
        return reply
          .header('content-type', 'application/gzip')
          .header('content-length', String(release.bytes))
          .header('content-disposition', `attachment; filename="${release.fileName}"`)
          .header('x-tendril-sha256', release.sha256)
          .header('cache-control', 'no-store')
          .send(Readable.from(slices()));
      },
    );
  };
}
