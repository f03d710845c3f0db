import { chromium, type Browser, type Page } from 'playwright-core';
import { runCli } from './cli.js';

/** Debian's Chromium, headless, without the background traffic a test machine has no use for. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/** A hub console user of `vendor` (`tendril hub user create`); returns its TOTP secret. */
export async function createConsoleUser(
  hubConfigFile: string,
  user: { vendor: string; email: string; password: string },
): Promise<string> {
  const created = await runCli(
    [
      'hub',
      'user',
      'create',
      '--config',
      hubConfigFile,
      '--vendor',
      user.vendor,
      '--email',
      user.email,
      '--password-env',
      'CONSOLE_PASSWORD',
      '--json',
    ],
    { env: { CONSOLE_PASSWORD: user.password } },
  );
  if (created.code !== 0) throw new Error(created.stderr);
  return (JSON.parse(created.stdout) as { totpSecret: string }).totpSecret;
}

/** Logs in on the console's form with password and TOTP code, and waits for the sites list. */
export async function logInToConsole(
  page: Page,
  hubUrl: string,
  user: { email: string; password: string },
  code: string,
): Promise<void> {
  await page.goto(`${hubUrl}/console/login`);
  await page.fill('#email', user.email);
  await page.fill('#password', user.password);
  await page.fill('#code', code);
  await Promise.all([page.waitForURL(/\/console\/sites/), page.click('button:has-text("Log in")')]);
}
