// The front of cli/: what other folders use of it. Its own files import each other directly.

export { runAuditVerify } from './audit-verify.js';
export { runConfigCheck } from './config-check.js';
export { runDemo } from './demo.js';
export { runEvidenceExport, runEvidenceVerify } from './evidence.js';
export { type CliIo, processIo } from './io.js';
export { runRdpCert } from './rdp-cert.js';
export { runRecordingsVerify } from './recordings-verify.js';
export { runServe } from './serve.js';
export { describeStartupError } from './startup-errors.js';
export { runStorageMigrate } from './storage-migrate.js';
export { runUsersResetTotp } from './users.js';
