// Which storage folder an offline CLI command works on: `--dir PATH`, or storage.dir of `--config PATH`.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { CliIo } from './io.js';

/** storage.dir from a YAML config without validating the rest: verification and repair must work on a
 * half-broken config, and no secret needs to be present. */
export async function storageDirFromYaml(path: string): Promise<string> {
  const doc = parseYaml(await readFile(path, 'utf8')) as { storage?: { dir?: unknown } } | null;
  const dir = doc?.storage?.dir ?? 'recordings';
  if (typeof dir !== 'string') throw new Error(`${path}: storage.dir must be a string`);
  return resolve(dir);
}

/** The absolute storage folder, or undefined after telling the operator why it could not be read. */
export async function storageDirOf(
  flags: Map<string, string | true>,
  io: CliIo,
  fromConfig: (path: string) => Promise<string> = storageDirFromYaml,
): Promise<string | undefined> {
  const dirFlag = flags.get('dir');
  if (typeof dirFlag === 'string') return resolve(dirFlag);
  const configPath = (flags.get('config') as string | undefined) ?? 'config/gatehouse.yaml';
  try {
    return await fromConfig(configPath);
  } catch (err) {
    io.err(`cannot read the storage folder from ${configPath}: ${(err as Error).message}`);
    return undefined;
  }
}
