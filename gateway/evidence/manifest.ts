// manifest.json of an evidence pack: what it covers and every file in it with its size and SHA-256.
import type { CheckpointRef } from './audit-slice.js';

export const PACK_FORMAT = 'gatehouse-evidence-pack/1';
export const MANIFEST = 'manifest.json';
export const SIGNATURE = 'manifest.sig';
export const PUBLIC_KEY = 'public-key.pem';
export const AUDIT_FILE = 'audit.jsonl';
/** Files every pack has (recordings/ only with --with-recordings). */
export const REQUIRED_FILES = [
  AUDIT_FILE,
  'requests.csv',
  'sessions.csv',
  'commands.csv',
  'alerts.csv',
  'targets.csv',
  'report.html',
  PUBLIC_KEY,
] as const;

export interface ManifestFile {
  path: string;
  bytes: number;
  sha256: string;
  /** Recordings: the session, and the SHA-256 sealed when it ended (absent for a live/unsealed one). */
  sessionId?: string;
  sealedSha256?: string;
  incomplete?: boolean;
}

export interface Manifest {
  format: typeof PACK_FORMAT;
  generatedAt: string;
  gateway: { name: 'gatehouse'; version: string };
  /** Null when exported from a storage folder without its config. */
  site: { name: string; timezone: string } | null;
  period: { from: string; to: string; note: string };
  exportedBy: Record<string, unknown>;
  key: { algorithm: 'Ed25519'; keyId: string; file: typeof PUBLIC_KEY; signature: typeof SIGNATURE };
  audit: {
    file: typeof AUDIT_FILE;
    /** Records whose `at` is in the period. */
    records: number;
    /** First and last line of audit.jsonl (null when the period has no record). */
    firstSeq: number | null;
    lastSeq: number | null;
    periodLastSeq: number | null;
    /** The hash the first line links to: the record before the period (64 zeros for seq 1). */
    prev: string | null;
    checkpointEvery: number;
    /** The signed checkpoint closing the file; null if none was written yet (the last records are then signed only by this manifest). */
    checkpoint: CheckpointRef | null;
    /** The log's last record at export time, and the signed head file then. */
    head: { seq: number; hash: string };
    signedHead: { seq: number; hash: string; keyId: string; sig: string } | null;
  };
  inventory: 'config' | 'ids-only';
  counts: Record<string, number>;
  withRecordings: boolean;
  files: ManifestFile[];
  notes: string[];
}

/** The exact bytes signed: pretty JSON, so an assessor can read it, with a final newline. */
export const manifestBytes = (m: Manifest): Buffer => Buffer.from(`${JSON.stringify(m, null, 2)}\n`);
