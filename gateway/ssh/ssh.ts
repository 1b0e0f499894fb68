// The front of ssh/: what other folders use of it. Its own files import each other directly.

export { type Live, type PtyRequest, relayChannel } from './channel-relay.js';
export { loadHostKeys, sshFingerprint } from './host-keys.js';
export { abandoned, refusalFor } from './refusals.js';
export { connectTarget, RelayError } from './relay.js';
export { type RunningSsh, type SshServerOptions, startSshServer } from './server.js';
export { type Admission, VendorSession, type VendorSessionPorts } from './session.js';
export { Server, utils } from './ssh2.js';
export { clampSize } from './terminal-size.js';
