// The front of storage/: what other folders use of it. Its own files import each other directly.

export { copyLowdbSite } from './copy-lowdb.js';
export { RECORDINGS_FAULT, StorageMonitor } from './monitor.js';
export { nodeIdOf, type OpenedStorage, openStorage } from './open.js';
export type { AuditAppend, AuditPort, CommandPort, PlcPort, StatePort, StateView, Storage } from './port.js';
export { checkout, createPool, poolOptions } from './postgres/connect.js';
export type { PostgresStorage } from './postgres/engine.js';
export type { Listener } from './postgres/listen.js';
export { LOCKS, migrateDatabase, NODE_LOCK_SPACE } from './postgres/migrations.js';
export {
  namesPostgres,
  openSiteStorage,
  readSiteState,
  verifySiteAudit,
  witnessSiteAudit,
} from './postgres/offline.js';
