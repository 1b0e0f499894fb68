// The front of audit/: what other folders use of it. Its own files import each other directly.

export { type DurableMark, probeRoom, replaceDurably, syncDir } from './durable.js';
export { GroupCommit } from './group-commit.js';
export {
  KEY_DIR,
  keyCopyInStorage,
  keyIdOf,
  loadOrCreateSigningKey,
  loadVerifyKey,
  PRIVATE_KEY_FILE,
  type SigningKey,
  type VerifyKey,
  verifySignature,
} from './signing.js';
export type { SyslogBacklog, SyslogBatch, SyslogFramer } from './syslog-backlog.js';
export { CURSOR_START, type SyslogCursor } from './syslog-cursor.js';
export { FileBacklog } from './syslog-file.js';
export { SyslogStream, type SyslogStreamOptions } from './syslog.js';
export {
  ACCEPT_MISSING_HEAD_FLAG,
  AuditChainError,
  checkHead,
  type ExistingLog,
  HEAD_FILE,
  type HeadFile,
  LOG_FILE,
  readHead,
  signatureCheck,
  verifyAuditFile,
  verifyExisting,
  verifyLog,
  type VerifyOptions,
} from './verify-file.js';
export { checkWitness, type WitnessResult } from './witness.js';
