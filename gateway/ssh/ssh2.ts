// ssh2 is CommonJS: Node's ESM loader cannot see its named exports (vitest can, which hides the problem),
// so every module takes them from here.
import ssh2, { type Client as ClientType, type Server as ServerType } from 'ssh2';

export const Client = ssh2.Client;
export type Client = ClientType;
export const Server = ssh2.Server;
export type Server = ServerType;
export const utils = ssh2.utils;
