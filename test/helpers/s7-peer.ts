// S7comm peers for the conduit's tests: Snap7's server (a soft PLC with one data block) and client, from the optional
// node-snap7 package. Every call uses Snap7's callback form: the blocking form would stall the event loop the gateway
// under test runs on.
import { createRequire } from 'node:module';
import { freePort, waitForPort } from './ports.js';

type Done<T = void> = (err: number | null, value: T) => void;

/** The parts of node-snap7's S7Client the tests use (the package ships no types). */
interface Snap7Client {
  RemotePort: number;
  SetParam(param: number, value: number): boolean;
  ConnectTo(ip: string, rack: number, slot: number, cb: Done): void;
  DBRead(db: number, start: number, size: number, cb: Done<Buffer>): void;
  DBWrite(db: number, start: number, size: number, buffer: Buffer, cb: Done): void;
  PlcStop(cb: Done): void;
  ErrorText(code: number): string;
  Disconnect(): boolean;
}

interface Snap7Server {
  LocalPort: number;
  srvAreaDB: number;
  SetParam(param: number, value: number): boolean;
  RegisterArea(area: number, index: number, buffer: Buffer): boolean;
  GetArea(area: number, index: number): Buffer;
  StartTo(ip: string, cb: (err: number | null) => void): void;
  Stop(): boolean;
  GetCpuStatus(): number;
}

interface Snap7 {
  S7Client: new () => Snap7Client;
  S7Server: new () => Snap7Server;
}

/** node-snap7, or why it cannot be loaded (not installed: an optional dependency whose build failed). */
export function loadSnap7(): { snap7: Snap7 } | { missing: string } {
  try {
    return { snap7: createRequire(import.meta.url)('node-snap7') as Snap7 };
  } catch (err) {
    return { missing: err instanceof Error ? err.message.split('\n')[0]! : String(err) };
  }
}

/** Snap7's CPU states (S7CpuStatusRun, S7CpuStatusStop). */
export const CPU_RUN = 0x08;
export const CPU_STOP = 0x04;

export interface S7Peer {
  port: number;
  /** DB1's bytes as the soft PLC holds them now. */
  db1(): Buffer;
  cpuStatus(): number;
  stop(): void;
}

/** A Snap7 server on a free loopback port with DB1 = `db1`, running. */
export async function startS7Server(snap7: Snap7, db1: Buffer): Promise<S7Peer> {
  const server = new snap7.S7Server();
  const port = await freePort();
  if (!server.SetParam(server.LocalPort, port)) throw new Error('Snap7 server: cannot set its port');
  if (!server.RegisterArea(server.srvAreaDB, 1, db1)) throw new Error('Snap7 server: cannot register DB1');
  await new Promise<void>((resolve, reject) =>
    server.StartTo('127.0.0.1', (err) => (err ? reject(new Error(`Snap7 server did not start: ${err}`)) : resolve())),
  );
  if (!(await waitForPort(port, { timeoutMs: 10_000 }))) throw new Error('Snap7 server: not accepting');
  return {
    port,
    db1: () => Buffer.from(server.GetArea(server.srvAreaDB, 1)),
    cpuStatus: () => server.GetCpuStatus(),
    stop: () => void server.Stop(),
  };
}

/** What a Snap7 call gave the engineering tool: its value, or the error number and Snap7's text for it. */
export type S7Outcome<T = undefined> = { ok: true; value: T } | { ok: false; code: number; text: string };

export interface S7Session {
  dbRead(db: number, start: number, size: number): Promise<S7Outcome<Buffer>>;
  dbWrite(db: number, start: number, data: Buffer): Promise<S7Outcome>;
  plcStop(): Promise<S7Outcome>;
  close(): void;
}

/** Snap7's client connected to 127.0.0.1:`port` as rack 0 slot 2 (the engineering tool at the tunnel's near end). */
export async function connectS7(snap7: Snap7, port: number): Promise<S7Session> {
  const c = new snap7.S7Client();
  c.SetParam(c.RemotePort, port);
  const call = <T>(start: (cb: Done<T>) => void): Promise<S7Outcome<T>> =>
    new Promise((resolve) =>
      start((err, value) => resolve(err ? { ok: false, code: err, text: c.ErrorText(err) } : { ok: true, value })),
    );
  const connected = await call<void>((cb) => c.ConnectTo('127.0.0.1', 0, 2, cb));
  if (!connected.ok) throw new Error(`Snap7 client could not connect: ${connected.text}`);
  return {
    dbRead: (db, start, size) => call<Buffer>((cb) => c.DBRead(db, start, size, cb)),
    dbWrite: (db, start, data) => call<undefined>((cb) => c.DBWrite(db, start, data.length, data, cb as Done)),
    plcStop: () => call<undefined>((cb) => c.PlcStop(cb as Done)),
    close: () => void c.Disconnect(),
  };
}
