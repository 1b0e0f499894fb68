// The front of admission/: what other folders use of it. Its own files import each other directly.

export { admitConnect, admitFromBrowser, auditRefused, type ConnectProof, requireProof, TARGET_ID } from './connect.js';
export { admitWatcher } from './watch.js';
