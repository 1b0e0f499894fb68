// The front of library/: what other folders use of it. Its own files import each other directly.

export { type AuditSource, findAuditRecord, linesBackward, queryAudit } from './audit-query.js';
export { OncePer } from './once-per.js';
export { IntegrityChecker, openRecording, type OpenRecording } from './recording-file.js';
export {
  type CommandHit,
  findSession,
  type LibraryContext,
  listSessions,
  searchCommands,
  sessionCommands,
  type SessionDetail,
  sessionDetail,
} from './session-views.js';
