// The JSON the sessions, commands and audit routes answer: the server's own types, imported as types only (erased by esbuild).
export type { CommandHit, SessionDetail, SessionView } from '../gateway/library/session-views.js';
export type { Integrity } from '../gateway/library/recording-file.js';
export type { AuditPageView, AuditVerifyView, CheckpointView } from '../gateway/http/routes/audit.js';
export type { CommandWithReason, SessionPageView } from '../gateway/http/routes/sessions.js';
export type { AuditRecord } from '../gateway/core/audit.js';
