import type { CommandFrame, UpgradeRelease } from '@tendril/hub';
import { describe, expect, it } from 'vitest';
import { runRemoteCommand, type RemoteCommandContext } from './remote-commands.js';

const RELEASE: UpgradeRelease = {
  version: '0.2.0',
  sha256: 'a'.repeat(64),
  signature: 'c2lnbmF0dXJl',
  bytes: 1234,
  path: '/agent/v1/releases/0.2.0/artifact',
};

const frame = (release?: UpgradeRelease): CommandFrame => ({
  type: 'command',
  id: 'f1',
  command: { id: 'cmd_1', name: 'upgrade', args: release ? { release } : {} },
});

function context(overrides: Partial<RemoteCommandContext> = {}) {
  const upgrades: unknown[] = [];
  const ctx: RemoteCommandContext = {
    remote: { restart: true, logs: true, upgrade: true, upgradeHealthSeconds: 120 },
    supervised: true,
    restart: () => undefined,
    validateConfig: () => Promise.resolve(),
    recentLogs: () => [],
    supportBundle: () => Promise.resolve({}),
    version: '0.1.0',
    releasePublicKey: () => '-----BEGIN PUBLIC KEY-----',
    upgrade: (request) => {
      upgrades.push(request);
      return Promise.resolve();
    },
    ...overrides,
  };
  return { ctx, upgrades };
}

const LINK = { credential: 'current-credential' };

/** The answers of the `upgrade` command (docs/hub.md, "Remote upgrade"); the work itself runs after. */
describe('remote command: upgrade', () => {
  it('answers ok at once and starts the upgrade after the answer, with the link’s current credential', async () => {
    const { ctx, upgrades } = context();
    const answer = await runRemoteCommand(frame(RELEASE), ctx, LINK);
    expect(answer.status).toBe('ok');
    expect(answer.message).toContain('downloading and verifying 0.2.0');
    expect(upgrades).toEqual([]);
    answer.after?.();
    expect(upgrades).toEqual([{ commandId: 'cmd_1', release: RELEASE, credential: 'current-credential' }]);
  });

  it('is refused when the practice turned upgrades off', async () => {
    const { ctx } = context({
      remote: { restart: true, logs: true, upgrade: false, upgradeHealthSeconds: 120 },
    });
    const answer = await runRemoteCommand(frame(RELEASE), ctx, LINK);
    expect(answer).toMatchObject({
      status: 'refused',
      message: expect.stringContaining('hub.remote.upgrade: false') as string,
    });
    expect(answer.after).toBeUndefined();
  });

  it('fails plainly without the supervisor, without a release, without a release key; refuses the running version', async () => {
    const cases: [Partial<RemoteCommandContext>, UpgradeRelease | undefined, string, string][] = [
      [{ supervised: false }, RELEASE, 'failed', 'without the supervisor'],
      [{}, undefined, 'failed', 'came without its release'],
      [{ releasePublicKey: () => undefined }, RELEASE, 'failed', 'development checkout'],
      [{ version: '0.2.0' }, RELEASE, 'refused', 'already runs version 0.2.0'],
    ];
    for (const [overrides, release, status, text] of cases) {
      const { ctx, upgrades } = context(overrides);
      const answer = await runRemoteCommand(frame(release), ctx, LINK);
      expect(answer.status, text).toBe(status);
      expect(answer.message).toContain(text);
      expect(answer.after).toBeUndefined();
      expect(upgrades).toEqual([]);
    }
  });
});
