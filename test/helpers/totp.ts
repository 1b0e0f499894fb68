// TOTP codes from oathtool: an implementation independent of ours, so tests do not grade our own homework.
import { execFileSync } from 'node:child_process';

export const OATHTOOL = '/usr/bin/oathtool';

/** The code for `secret` (base32) at `at` (default: now). */
export function oathCode(secret: string, at: number | Date = Date.now()): string {
  const t = new Date(at)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC');
  return execFileSync(OATHTOOL, ['--totp', '-b', '-N', t, secret], { encoding: 'utf8' }).trim();
}

/** Waits until the next 30-second step starts, so a fresh code is not a replay of one already used. */
export async function nextStep(): Promise<void> {
  const ms = 30_000 - (Date.now() % 30_000) + 50;
  await new Promise((r) => setTimeout(r, ms));
}
