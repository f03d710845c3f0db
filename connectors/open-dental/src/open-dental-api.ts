import {
  cellText,
  TendrilError,
  writebackFailure,
  type VendorSources,
  type WritebackConnectionConfig,
  type WritebackContext,
  type WritebackFailure,
  type WritebackRow,
} from '@tendril/core';
import { APT_STATUS } from './vocabularies.js';

/**
 * The Open Dental API as the writeback uses it (docs/writeback.md lists the pages it follows and
 * what they left unconfirmed): its authorization header, its refusals as coded failures, and the
 * reads the slot check, the target re-read and match before create make through it. The API's
 * appointment and patient objects use the table's column names, so the streams' own mappings read
 * them; only `AptStatus` comes as a name and is turned back into its code.
 */

/** Open Dental's API pages lists at 100 items (`Offset` pages on). */
const API_PAGE = 100;
const APT_STATUS_CODE = new Map<string, number>(
  Object.entries(APT_STATUS).map(([code, name]) => [name, Number(code)]),
);

/** `Authorization: ODFHIR <DeveloperKey>/<CustomerKey>` (Open Dental API Developer Setup). */
export function openDentalApiHeaders(
  api: NonNullable<WritebackConnectionConfig['api']>,
): Record<string, string> {
  if (!api.developerKey || !api.customerKey) {
    throw new TendrilError(
      'TENDRIL_E_CONFIG_INVALID',
      'the Open Dental API needs writeback.api.developerKey and writeback.api.customerKey (use ${secret:…} references)',
    );
  }
  return { authorization: `ODFHIR ${api.developerKey}/${api.customerKey}` };
}

/** A non-2xx answer as a failure: 404 → not_found, 401/403 → permission_denied, else vendor_error. */
function refused(what: string, response: { status: number; body: unknown }): WritebackFailure {
  const text = typeof response.body === 'string' ? response.body : JSON.stringify(response.body ?? '');
  // Open Dental answers 400 "with explanation": kept, bounded.
  const details = { httpStatus: response.status, vendorMessage: text.slice(0, 500) };
  if (response.status === 401 || response.status === 403) {
    return writebackFailure(
      'permission_denied',
      `the Open Dental API refused the keys for ${what}; check writeback.api.developerKey / customerKey and the key's permissions`,
      details,
    );
  }
  if (response.status === 404)
    return writebackFailure('not_found', `the Open Dental API found no record for ${what}`, details);
  return writebackFailure(
    'vendor_error',
    `the Open Dental API refused ${what} (HTTP ${response.status}); see details.vendorMessage`,
    details,
  );
}

/** One API call (`what` names it in failures): the answer's body, or the refusal as a failure. */
export async function apiCall(
  ctx: WritebackContext,
  what: string,
  method: 'GET' | 'POST' | 'PUT',
  path: string,
  body?: unknown,
): Promise<{ readonly body: unknown } | WritebackFailure> {
  if (!ctx.api)
    throw new TendrilError('TENDRIL_E_INTERNAL', 'Open Dental writeback runs on the vendor-api path only');
  const response = await ctx.api.request(method, path, body);
  return response.status >= 200 && response.status < 300 ? { body: response.body } : refused(what, response);
}

/** An API appointment as a row of the appointments stream. */
function appointmentRow(apt: Record<string, unknown>): WritebackRow {
  return { ...apt, AptStatus: APT_STATUS_CODE.get(String(apt['AptStatus'])) ?? apt['AptStatus'] };
}

const list = (body: unknown) => (Array.isArray(body) ? (body as Record<string, unknown>[]) : []);

/** What the engine reads through the API: the appointment changed, the office day, the match candidates. */
export const openDentalSources: VendorSources = {
  async record(ctx, _stream, [aptNum]) {
    const found = await apiCall(
      ctx,
      'the appointment',
      'GET',
      `/appointments/${encodeURIComponent(aptNum!)}`,
    );
    if ('body' in found) return appointmentRow(found.body as Record<string, unknown>);
    return found.code === 'not_found' ? undefined : found;
  },
  async day(ctx, date) {
    const rows: WritebackRow[] = [];
    for (let offset = 0; ; offset += API_PAGE) {
      const path = `/appointments?date=${date}&Offset=${offset}`;
      const page = await apiCall(ctx, 'the day’s appointments (slot check)', 'GET', path);
      if (!('body' in page)) return page;
      rows.push(...list(page.body).map(appointmentRow));
      if (list(page.body).length < API_PAGE) return rows;
    }
  },
  async candidates(ctx, query) {
    const search = new URLSearchParams({
      LName: query.family,
      FName: query.given,
      Birthdate: query.birthDate,
    });
    const path = `/patients/Simple?${search.toString()}`;
    const found = await apiCall(ctx, 'the patient search (match before create)', 'GET', path);
    if (!('body' in found)) return found;
    return list(found.body).filter((patient) => cellText(patient['PatStatus']) !== 'Deleted');
  },
};
