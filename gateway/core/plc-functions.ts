// The PLC functions rules may name (Modbus function codes, S7 jobs and PI services) and the classes they fall in:
// pure vocabulary, shared by the config's rule checks and the conduit's parsers.

/** What an operation does to the controller; rules may name a class instead of each function. */
export type OperationClass = 'read' | 'write' | 'program' | 'control' | 'session' | 'other';

export const OPERATION_CLASSES: readonly OperationClass[] = ['read', 'write', 'program', 'control', 'session', 'other'];

export interface FunctionInfo {
  name: string;
  class: OperationClass;
  /** The data area a read/write names: "coils 0-9". */
  area?: string;
}

export const MODBUS_FUNCTIONS: Readonly<Record<number, FunctionInfo>> = {
  1: { name: 'read-coils', class: 'read', area: 'coils' },
  2: { name: 'read-discrete-inputs', class: 'read', area: 'inputs' },
  3: { name: 'read-holding-registers', class: 'read', area: 'holding' },
  4: { name: 'read-input-registers', class: 'read', area: 'input-registers' },
  5: { name: 'write-single-coil', class: 'write', area: 'coil' },
  6: { name: 'write-single-register', class: 'write', area: 'holding' },
  7: { name: 'read-exception-status', class: 'read' },
  8: { name: 'diagnostics', class: 'other' },
  11: { name: 'get-comm-event-counter', class: 'read' },
  12: { name: 'get-comm-event-log', class: 'read' },
  15: { name: 'write-multiple-coils', class: 'write', area: 'coils' },
  16: { name: 'write-multiple-registers', class: 'write', area: 'holding' },
  17: { name: 'report-server-id', class: 'read' },
  20: { name: 'read-file-record', class: 'read' },
  21: { name: 'write-file-record', class: 'write' },
  22: { name: 'mask-write-register', class: 'write', area: 'holding' },
  23: { name: 'read-write-multiple-registers', class: 'write', area: 'holding' },
  24: { name: 'read-fifo-queue', class: 'read', area: 'fifo' },
  43: { name: 'encapsulated-interface', class: 'other' },
};

/** Every function name a Modbus rule may name. */
export const MODBUS_FUNCTION_NAMES: readonly string[] = [
  ...Object.values(MODBUS_FUNCTIONS).map((f) => f.name),
  'read-device-identification',
];

export interface JobInfo {
  name: string;
  class: OperationClass;
}

export const S7_JOBS: Readonly<Record<number, JobInfo>> = {
  0xf0: { name: 'setup-communication', class: 'session' },
  0x04: { name: 'read-var', class: 'read' },
  0x05: { name: 'write-var', class: 'write' },
  0x1a: { name: 'download', class: 'program' },
  0x1b: { name: 'download-block', class: 'program' },
  0x1c: { name: 'download-ended', class: 'program' },
  0x1d: { name: 'upload', class: 'read' },
  0x1e: { name: 'upload-block', class: 'read' },
  0x1f: { name: 'upload-ended', class: 'read' },
  0x28: { name: 'pi-service', class: 'control' },
  0x29: { name: 'plc-stop', class: 'control' },
};

/** PI services by name: what starting a program, inserting or deleting a block is called on the wire. */
export const S7_PI_SERVICES: Readonly<Record<string, JobInfo>> = {
  P_PROGRAM: { name: 'plc-start', class: 'control' },
  _INSE: { name: 'insert-block', class: 'program' },
  _DELE: { name: 'delete-block', class: 'program' },
  _GARB: { name: 'compress-memory', class: 'control' },
  _MODU: { name: 'copy-ram-to-rom', class: 'program' },
};

/** Every function name an S7 rule may name. */
export const S7_FUNCTION_NAMES: readonly string[] = [
  ...Object.values(S7_JOBS).map((j) => j.name),
  ...Object.values(S7_PI_SERVICES).map((j) => j.name),
  'userdata',
  'set-clock',
];
