// The front of conduit/: what other folders use of it. Its own files import each other directly.

export { PLC_PORTS, type PlcProtocol } from './operation.js';
export { pipeInspected } from './pipe-inspected.js';
export { PlcLog } from './plc-log.js';
export { PLC_OUTCOMES, type PlcOperationRecord } from './record.js';
export { type PlcLiveEvent, SessionConduit } from './session-conduit.js';
