import { describe, expect, it } from 'vitest';
import { freshnessChart } from './chart.js';
import { html, raw } from './html.js';
import { LoginLimiter } from './login-limiter.js';
import { seal, unseal } from './secret-box.js';
import { freshnessSeconds, worstStream } from './site-view.js';
import { base32Decode, base32Encode, matchTotp, totpCode } from './totp.js';

// RFC 6238, appendix B (SHA-1 key "12345678901234567890"), last six digits of the 8-digit values.
const RFC_SECRET = base32Encode(Buffer.from('12345678901234567890', 'ascii'));

describe('console building blocks', () => {
  it('computes TOTP codes as RFC 6238 does, and accepts a code only within a step of now', () => {
    expect(RFC_SECRET).toBe('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ');
    expect(base32Decode(RFC_SECRET).toString('ascii')).toBe('12345678901234567890');
    expect(totpCode(RFC_SECRET, Math.floor(59 / 30))).toBe('287082');
    expect(totpCode(RFC_SECRET, Math.floor(1111111109 / 30))).toBe('081804');
    expect(totpCode(RFC_SECRET, Math.floor(20000000000 / 30))).toBe('353130');
    const at = new Date(1111111109 * 1000);
    expect(matchTotp(RFC_SECRET, '081804', at)).toBe(Math.floor(1111111109 / 30));
    expect(matchTotp(RFC_SECRET, '081804', new Date(at.getTime() + 30_000))).toBeDefined();
    expect(matchTotp(RFC_SECRET, '081804', new Date(at.getTime() + 90_000))).toBeUndefined();
    expect(matchTotp(RFC_SECRET, '000000', at)).toBeUndefined();
  });

  it('seals a secret so only the same key opens it, and a changed byte is refused', () => {
    const key = Buffer.alloc(32, 7);
    const sealed = seal(key, 'JBSWY3DPEHPK3PXP');
    expect(sealed).not.toContain('JBSWY3DPEHPK3PXP');
    expect(unseal(key, sealed)).toBe('JBSWY3DPEHPK3PXP');
    expect(unseal(Buffer.alloc(32, 8), sealed)).toBeUndefined();
    const parts = sealed.split('.');
    parts[3] = `${parts[3]!.slice(0, -2)}AA`;
    expect(unseal(key, parts.join('.'))).toBeUndefined();
  });

  it('limits failures per key in a sliding window and forgets them after', () => {
    const limiter = new LoginLimiter(3, 60_000);
    for (let i = 0; i < 3; i += 1) limiter.fail(['a'], 1000 + i);
    expect(limiter.blockedFor(['a'], 2000)).toBe(59_000);
    expect(limiter.blockedFor(['b'], 2000)).toBe(0);
    expect(limiter.blockedFor(['a'], 61_001)).toBe(0);
  });

  it('escapes every interpolated value unless it is markup built here', () => {
    const name = '<script>alert("x")</script> & Co';
    expect(html`<td>${name}</td>`.text).toBe(
      '<td>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co</td>',
    );
    expect(html`<td>${raw('<b>ok</b>')}</td>`.text).toBe('<td><b>ok</b></td>');
  });

  it('derives freshness from the oldest last read and the worst stream', () => {
    const now = new Date('2026-01-01T12:00:00Z');
    const status = {
      connections: [
        {
          id: 'c',
          streams: [
            {
              stream: 'a',
              status: 'healthy',
              stale: false,
              lagSeconds: 1,
              lastSuccessAt: '2026-01-01T11:55:00Z',
              lastErrorCode: null,
            },
            {
              stream: 'b',
              status: 'unhealthy',
              stale: true,
              lagSeconds: 1,
              lastSuccessAt: '2026-01-01T11:00:00Z',
              lastErrorCode: 'TENDRIL_E_DB_AUTH',
            },
          ],
          pendingWritebacks: 0,
          outboxEvents: 0,
        },
      ],
    };
    expect(freshnessSeconds(status, now)).toBe(3600);
    expect(worstStream(status)).toEqual({ state: 'unhealthy', unhealthy: 1 });
    expect(freshnessSeconds({ connections: [] }, now)).toBeNull();
  });

  it('draws a gap where the samples stop, and says what it shows for screen readers', () => {
    const now = new Date('2026-01-08T00:00:00Z');
    const at = (h: number) => new Date(now.getTime() - h * 3_600_000);
    const svg = freshnessChart(
      [
        { at: at(10), freshness_seconds: 300 },
        { at: at(9.5), freshness_seconds: 600 },
        { at: at(3), freshness_seconds: 120 },
        { at: at(2.5), freshness_seconds: 1500 },
      ],
      now,
    );
    expect(svg.match(/<polyline/g)).toHaveLength(2);
    expect(svg).toContain('<desc id="fresh-desc">4 samples; worst freshness 25 minutes.</desc>');
    expect(freshnessChart([], now)).toContain('No status reports in the last 7 days');
  });
});
