// The shape of db.json: what the gateway keeps as state, and a structural check of a loaded file.
import type { AccessRequest, SessionRecord, SshKey, User } from '../core/model.js';
import { StoreOpenError } from './errors.js';

/** A browser login; the cookie carries only the id. */
export interface WebSessionRecord {
  id: string;
  userId: string;
  createdAt: string;
  lastSeenAt: string;
  expiresAt: string;
  /** When the user last passed a TOTP step-up in this browser session. */
  stepUpAt?: string;
  csrfToken: string;
}

export interface DbData {
  schemaVersion: number;
  users: User[];
  sshKeys: SshKey[];
  requests: AccessRequest[];
  sessions: SessionRecord[];
  webSessions: WebSessionRecord[];
  meta: Record<string, unknown>;
}

/** Bump together with a new entry at the end of `migrations` (store/migrations.ts). */
export const CURRENT_SCHEMA_VERSION = 2;

/** Captured commands are not here: they live in commands.jsonl (command-log.ts) since v2. */
export const COLLECTIONS = ['users', 'sshKeys', 'requests', 'sessions', 'webSessions'] as const;

/** `meta` key: a v1 file's commands, until the command log has them (CommandLog.open deletes it). */
export const COMMANDS_TO_MOVE = 'commandsToMove';

export function emptyDb(): DbData {
  return {
    schemaVersion: CURRENT_SCHEMA_VERSION,
    users: [],
    sshKeys: [],
    requests: [],
    sessions: [],
    webSessions: [],
    meta: {},
  };
}

/**
 * Checks the top-level structure only (not every record): enough to refuse a file that is not
 * ours before the gateway starts writing over it.
 */
export function checkDbShape(data: Record<string, unknown>, source: string): DbData {
  if (data.schemaVersion !== CURRENT_SCHEMA_VERSION)
    throw new StoreOpenError(
      'storage_invalid',
      `${source}: schemaVersion is ${String(data.schemaVersion)}, expected ${CURRENT_SCHEMA_VERSION}`,
    );
  for (const key of COLLECTIONS) {
    if (!Array.isArray(data[key]))
      throw new StoreOpenError('storage_invalid', `${source}: "${key}" is not a list; is this a Gatehouse db.json?`);
  }
  const meta = data.meta;
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta))
    throw new StoreOpenError('storage_invalid', `${source}: "meta" is not an object; is this a Gatehouse db.json?`);
  return data as unknown as DbData;
}
