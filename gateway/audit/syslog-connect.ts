// Opens the connection to the SIEM's syslog receiver: plain TCP or TLS (verified against caFile or the system CAs).
import { readFileSync } from 'node:fs';
import { isIP, type Socket } from 'node:net';
import net from 'node:net';
import tls from 'node:tls';
import type { SyslogConfig } from '../config.js';

export type SyslogTarget = Pick<SyslogConfig, 'host' | 'port' | 'transport' | 'caFile'>;

/**
 * Starts connecting and returns the socket at once; `ready` runs once it can carry messages (after the
 * TLS handshake for tls). Errors arrive as the socket's 'error' event, like any later one.
 */
export function connectSyslog(t: SyslogTarget, ready: () => void): Socket {
  if (t.transport === 'tcp') {
    const socket = net.connect({ host: t.host, port: t.port });
    socket.once('connect', ready);
    return socket;
  }
  // Read at each connect, so a renewed CA file is picked up without a restart.
  const ca = t.caFile ? readFileSync(t.caFile) : undefined;
  const socket = tls.connect({
    host: t.host,
    port: t.port,
    ...(ca ? { ca } : {}),
    // SNI only carries names; an IP address is still checked against the certificate's IP entries.
    ...(isIP(t.host) ? {} : { servername: t.host }),
    minVersion: 'TLSv1.2',
  });
  socket.once('secureConnect', ready);
  return socket;
}

/** The error's code only (ECONNREFUSED, CERT_HAS_EXPIRED …): messages may carry more than an operator needs. */
export function errorCode(err: unknown): string {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' ? code : 'network_error';
}
