// The front of evidence/: what other folders use of it. Its own files import each other directly.

export { type AuditSource, auditSourceOf, chainAuditSource } from './audit-source.js';
export { writePackFile } from './pack-file.js';
export type { Progress } from './pack.js';
export { compactInstant, parsePeriod, type Period } from './period.js';
export { checkRecording, type RecordingCheck } from './recordings.js';
export { verifyPack } from './verify.js';
