// The storage port: what the gateway needs from a storage engine (lowdb files or PostgreSQL), nothing more.
// Both engines satisfy it; app.ts picks one at start (storage/open.ts) and hands it out through Deps.
import type { AuditInput, AuditRecord } from '../core/audit.js';
import type { VerifyResult } from '../core/audit-chain.js';
import type { CommandRecord } from '../core/model.js';
import type { PlcOperationRecord } from '../conduit/conduit.js';
import type { HeadFile, SyslogBacklog } from '../audit/audit.js';
import type { DbData } from '../store.js';
import type { AuditSink } from '../audit-sink.js';

export type { AuditSink } from '../audit-sink.js';

/** Users, SSH keys, requests, sessions, web sessions and key/value meta. */
export interface StatePort {
  /** The last committed state, deeply frozen; read synchronously everywhere. */
  readonly data: Readonly<DbData>;
  /**
   * `data` with the history added: on lowdb, closed requests and ended sessions moved out of db.json into
   * history/*.jsonl (storage.historyAfterDays); on PostgreSQL, `data` itself. What listings, evidence and
   * replay read; decisions (admission, the scheduler) read `data`.
   */
  readonly withHistory: Readonly<DbData>;
  /**
   * Runs `fn` on a draft with every other writer (of every node) held off, then commits the change and
   * the audit records `fn` gave the sink together. If `fn` throws nothing changes.
   */
  update<T>(fn: (draft: DbData, audit: AuditSink) => T | Promise<T>): Promise<T>;
  /**
   * Engines several nodes share (PostgreSQL): takes in other nodes' commits now. `data` lags them by one
   * notification, so a lookup that misses (an id another node has just created) asks again after this.
   */
  refresh?(): Promise<void>;
  close(): Promise<void>;
}

/** What a reader of the state is given: the committed state and its history, never `update`. */
export type StateView = Pick<StatePort, 'data' | 'withHistory'>;

export interface AuditStats {
  appends: number;
  fsyncs: number;
  batches: number;
}

/** The hash-chained audit log (core/audit*.ts format, whichever engine keeps it). */
export interface AuditPort {
  /** Resolves with the record once it is durable. */
  append(input: AuditInput): Promise<AuditRecord>;
  /** A signed checkpoint now if records arrived since the last one. */
  checkpoint(): Promise<AuditRecord | undefined>;
  /** The last durable record. */
  head(): { seq: number; hash: string };
  verify(): Promise<VerifyResult>;
  readonly keyId: string;
  /** The signing key's file when it is kept outside the storage folder (audit.signingKey). */
  readonly signingKeyFile?: string | undefined;
  stats(): AuditStats;
  /** The committed lines newest first, where they are not audit.jsonl in storage.dir (PostgreSQL). */
  linesBackward?(): AsyncIterable<Buffer>;
  /** The committed lines with `after < seq <= upTo` in seq order, where they are not audit.jsonl (PostgreSQL). */
  linesForward?(after: number, upTo?: number): AsyncIterable<Buffer>;
  /** The signed head (what audit.head.json holds on lowdb), where it is not a file in storage.dir (PostgreSQL). */
  readSignedHead?(): Promise<HeadFile | undefined>;
  close(): Promise<void>;
}

/** What an adapter that only records events is given (defined in core/, where the conduit can name it too). */
export type { AuditAppend } from '../core/audit.js';

/** Captured shell commands: append-only. */
export interface CommandPort {
  readonly records: readonly CommandRecord[];
  append(record: CommandRecord): Promise<CommandRecord>;
  close(): Promise<void>;
}

/** PLC operations seen in forwards: append-only, every node's in `records`. */
export interface PlcPort {
  readonly records: readonly PlcOperationRecord[];
  append(record: PlcOperationRecord): Promise<PlcOperationRecord>;
  close(): Promise<void>;
}

export type EngineName = 'lowdb' | 'postgres';

/** One open storage: its three parts and how to close them in order. */
export interface Storage {
  engine: EngineName;
  state: StatePort;
  audit: AuditPort;
  commands: CommandPort;
  plc: PlcPort;
  /** What the SIEM stream to `destination` (host:port) reads and where it keeps its cursor. */
  syslogBacklog(destination: string): SyslogBacklog;
  /** Resolves when the engine's server answers, rejects when it cannot be reached; absent without a server (lowdb). */
  probe?(): Promise<void>;
  /** Closes plc, commands, audit, then state: the reverse of the order they opened in. */
  close(): Promise<void>;
}
