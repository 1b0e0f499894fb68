// The front of admission/: what other folders use of it. Its own files import each other directly.

export {
  admitConnect,
  admitFromBrowser,
  auditRefused,
  type BrowserConnectPorts,
  type ConnectPorts,
  type ConnectProof,
  requireProof,
  TARGET_ID,
} from './connect.js';
export { admitWatcher, type WatchPorts } from './watch.js';
