// Schema migrations for db.json, applied one version at a time when an older file is opened.

import { StoreOpenError } from './errors.js';
import { COLLECTIONS, COMMANDS_TO_MOVE, CURRENT_SCHEMA_VERSION } from './schema.js';

export type MigrationData = Record<string, unknown>;

export interface Migration {
  /** The version the data is at after `up`; steps are consecutive (1, 2, 3 …). */
  to: number;
  /** Mutates the data in place; `schemaVersion` is set by `migrate`, not here. */
  up(data: MigrationData): void;
}

/** The real list: the last `to` must equal CURRENT_SCHEMA_VERSION (a unit test checks it). */
export const migrations: readonly Migration[] = [
  {
    // v0 = a file without schemaVersion (written before versioning, or by hand): fill in
    // whatever collections are missing so the rest of the gateway can rely on them.
    to: 1,
    up(data) {
      for (const key of COLLECTIONS) if (data[key] === undefined) data[key] = [];
      if (data.meta === undefined) data.meta = {};
    },
  },
  {
    // v2: captured commands leave db.json for the append-only commands.jsonl. Set aside in meta, not
    // dropped: CommandLog.open (storage lock held) appends them there durably and only then deletes them.
    to: 2,
    up(data) {
      const { commands, meta } = data;
      if (commands === undefined) return;
      if (!Array.isArray(commands))
        throw new StoreOpenError('storage_invalid', 'db.json: "commands" is not a list; is this a Gatehouse db.json?');
      if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) return; // checkDbShape refuses it
      delete data.commands;
      if (commands.length > 0) (meta as Record<string, unknown>)[COMMANDS_TO_MOVE] = commands;
    },
  },
];

/** The version a loaded file is at; a file without one predates versioning (0). */
export function schemaVersionOf(data: MigrationData, source = 'data'): number {
  const v = data.schemaVersion ?? 0;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
    throw new StoreOpenError('storage_invalid', `${source}: schemaVersion ${JSON.stringify(v)} is not a version`);
  return v;
}

/**
 * Brings `data` (in place) up to the last version in `steps`. Refuses data newer than the code:
 * a downgraded gateway would otherwise drop fields it does not know on its first write.
 */
export function migrate(
  data: MigrationData,
  steps: readonly Migration[] = migrations,
  source = 'data',
): { from: number; to: number } {
  const target = steps.at(-1)?.to ?? CURRENT_SCHEMA_VERSION;
  const from = schemaVersionOf(data, source);
  if (from > target)
    throw new StoreOpenError(
      'storage_too_new',
      `${source} has schemaVersion ${from}, but this Gatehouse knows versions up to ${target}: ` +
        'it was written by a newer Gatehouse. Run that version again, or restore a backup (db.json.v<N>.bak).',
    );
  let version = from;
  for (const step of steps) {
    if (step.to <= version) continue;
    // A gap would silently skip a step's changes; the list is code, so this is a programming error.
    if (step.to !== version + 1) throw new Error(`migrations: no step from version ${version} to ${version + 1}`);
    step.up(data);
    version = step.to;
    data.schemaVersion = version;
  }
  return { from, to: version };
}
