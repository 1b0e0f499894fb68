// Reads an RDP server's TLS certificate the way a client meets it: TPKT + X.224 Connection Request with an
// RDP_NEG_REQ (MS-RDPBCGR 2.2.1.1), the Connection Confirm (2.2.1.2), then a TLS handshake on the same socket.
// Nothing after the handshake is sent: no credentials, no CredSSP. Every read and the whole exchange are
// bounded, and whatever the peer sends ends in one RdpProbeError (the peer may be hostile).
import { createHash, type X509Certificate } from 'node:crypto';
import { connect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';

export type RdpProbeErrorCode =
  'refused' | 'unreachable' | 'timeout' | 'closed' | 'not_rdp' | 'neg_failure' | 'legacy_security' | 'tls_failed';

export class RdpProbeError extends Error {
  constructor(
    readonly code: RdpProbeErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'RdpProbeError';
  }
}

export interface RdpCertificate {
  /** The security protocol the server selected: `tls` (PROTOCOL_SSL) or `nla` (PROTOCOL_HYBRID). */
  protocol: 'tls' | 'nla';
  /** SHA-256 of the certificate's DER, lower-case hex pairs joined by ":" (the targets[].rdp.certSha256 form). */
  sha256: string;
  /** Subject and issuer as "CN=…, O=…", control characters escaped (the peer chose them). */
  subject: string;
  issuer: string;
  validFrom: Date;
  validTo: Date;
}

export interface ProbeOptions {
  /** Bound on the whole exchange, connect to certificate (default 10 s). */
  timeoutMs?: number;
}

const PROTOCOL_RDP = 0x0;
const PROTOCOL_SSL = 0x1;
const PROTOCOL_HYBRID = 0x2;
const TYPE_RDP_NEG_RSP = 0x02;
const TYPE_RDP_NEG_FAILURE = 0x03;
/** A Connection Confirm is 11 bytes, 19 with negotiation data; anything far larger is not one. */
const MAX_CONFIRM = 64;

const failureNames: Record<number, string> = {
  0x1: 'SSL_REQUIRED_BY_SERVER',
  0x2: 'SSL_NOT_ALLOWED_BY_SERVER',
  0x3: 'SSL_CERT_NOT_ON_SERVER',
  0x4: 'INCONSISTENT_FLAGS',
  0x5: 'HYBRID_REQUIRED_BY_SERVER',
  0x6: 'SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER',
};

const hex = (n: number) => `0x${n.toString(16)}`;

/** TPKT header + X.224 CR TPDU (no cookie) + RDP_NEG_REQ offering TLS and NLA: 19 bytes. */
export function connectionRequest(): Buffer {
  const b = Buffer.alloc(19);
  b.writeUInt8(3, 0); // TPKT version
  b.writeUInt16BE(19, 2); // TPKT length, header included
  b.writeUInt8(14, 4); // X.224 length indicator: the TPDU after this byte
  b.writeUInt8(0xe0, 5); // CR TPDU; DST-REF, SRC-REF and class stay 0
  b.writeUInt8(0x01, 11); // TYPE_RDP_NEG_REQ, flags 0
  b.writeUInt16LE(8, 13);
  b.writeUInt32LE(PROTOCOL_SSL | PROTOCOL_HYBRID, 15);
  return b;
}

/** Peer-chosen text made safe for one terminal line: control characters escaped, length capped. */
export function printable(s: string, max = 200): string {
  const safe = s.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return safe.length > max ? `${safe.slice(0, max)}…` : safe;
}

const glimpse = (b: Buffer) => printable(b.subarray(0, 24).toString('latin1'), 40);

const legacyAdvice = 'legacy "rdp" security has no certificate to pin; configure the server for security nla or tls';

/** The protocol the Connection Confirm selects, or the RdpProbeError it amounts to. */
export function parseConfirm(b: Buffer): 'tls' | 'nla' | RdpProbeError {
  const notRdp = (why: string) => new RdpProbeError('not_rdp', `not an RDP server: ${why}`);
  const li = b[4]!;
  const code = b[5]! & 0xf0;
  if (code === 0x80) return notRdp('it answered with an X.224 Disconnect Request');
  if (code !== 0xd0) return notRdp(`expected an X.224 Connection Confirm (0xd0), got TPDU ${hex(b[5]!)}`);
  if (li !== b.length - 5) return notRdp(`X.224 length indicator ${li} does not match the TPKT length ${b.length}`);
  if (b.length === 11)
    return new RdpProbeError('legacy_security', `the server did not negotiate (no RDP_NEG_RSP): ${legacyAdvice}`);
  if (b.length !== 19 || b.readUInt16LE(13) !== 8)
    return notRdp(`malformed negotiation data in the Connection Confirm (${b.length} bytes)`);
  const type = b[11]!;
  const value = b.readUInt32LE(15);
  if (type === TYPE_RDP_NEG_FAILURE) {
    const name = failureNames[value] ?? 'unknown failure code';
    const why =
      value === 0x2
        ? legacyAdvice
        : value === 0x3
          ? 'it has no certificate configured; give it one, then use security nla or tls'
          : 'security nla or tls needs the server to accept TLS';
    return new RdpProbeError('neg_failure', `the server refused TLS: RDP_NEG_FAILURE ${name} (${hex(value)}); ${why}`);
  }
  if (type !== TYPE_RDP_NEG_RSP) return notRdp(`unknown negotiation type ${hex(type)} in the Connection Confirm`);
  if (value === PROTOCOL_SSL) return 'tls';
  if (value === PROTOCOL_HYBRID) return 'nla';
  if (value === PROTOCOL_RDP)
    return new RdpProbeError('legacy_security', `the server selected PROTOCOL_RDP: ${legacyAdvice}`);
  return notRdp(`it selected protocol ${hex(value)}, which was not offered`);
}

function describeCertificate(x509: X509Certificate, protocol: 'tls' | 'nla'): RdpCertificate {
  const dn = (s: string) => printable(s.split('\n').filter(Boolean).join(', '));
  return {
    protocol,
    // From the DER ourselves rather than fingerprint256, so the pin means exactly "these certificate bytes".
    sha256: createHash('sha256').update(x509.raw).digest('hex').match(/../g)!.join(':'),
    subject: dn(x509.subject),
    issuer: dn(x509.issuer),
    validFrom: new Date(x509.validFrom),
    validTo: new Date(x509.validTo),
  };
}

/** Errors name the host only where it matters (DNS): the caller prints host:port in front. */
function socketProblem(err: NodeJS.ErrnoException, host: string): RdpProbeError {
  switch (err.code) {
    case 'ECONNREFUSED':
      return new RdpProbeError('refused', 'connection refused (nothing listens there?)', { cause: err });
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new RdpProbeError('unreachable', `cannot resolve ${host}`, { cause: err });
    case 'ECONNRESET':
    case 'EPIPE':
      return new RdpProbeError('closed', 'the server reset the connection', { cause: err });
    default:
      return new RdpProbeError('unreachable', `cannot reach it: ${err.code ?? err.message}`, { cause: err });
  }
}

/** Connects to an RDP server, negotiates TLS or NLA and returns its certificate; the socket is always closed. */
export function probeRdpCertificate(host: string, port: number, opts: ProbeOptions = {}): Promise<RdpCertificate> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    let stage = 'connecting';
    let tls: TLSSocket | undefined;
    let settled = false;
    const socket: Socket = connect({ host, port });
    const finish = (result: RdpCertificate | RdpProbeError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      tls?.destroy();
      socket.destroy();
      if (result instanceof RdpProbeError) reject(result);
      else resolve(result);
    };
    const timer = setTimeout(
      () => finish(new RdpProbeError('timeout', `timeout: no answer within ${timeoutMs / 1000} s (${stage})`)),
      timeoutMs,
    );

    socket.on('error', (err: NodeJS.ErrnoException) =>
      finish(
        tls
          ? new RdpProbeError('tls_failed', `TLS handshake failed: ${printable(err.message)}`, { cause: err })
          : socketProblem(err, host),
      ),
    );
    socket.on('close', () =>
      finish(
        tls
          ? new RdpProbeError('tls_failed', 'TLS handshake failed: the server closed the connection')
          : new RdpProbeError('closed', `the server closed the connection (${stage})`),
      ),
    );
    socket.once('connect', () => {
      stage = 'waiting for the X.224 Connection Confirm';
      socket.write(connectionRequest());
    });

    const chunks: Buffer[] = [];
    let got = 0;
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      got += chunk.length;
      const head = Buffer.concat(chunks);
      if (head[0] !== 3 || (got >= 2 && head[1] !== 0))
        return finish(
          new RdpProbeError('not_rdp', `not an RDP server: the answer is not a TPKT header ("${glimpse(head)}")`),
        );
      if (got < 4) return;
      const length = head.readUInt16BE(2);
      if (length < 11 || length > MAX_CONFIRM)
        return finish(
          new RdpProbeError(
            'not_rdp',
            `not an RDP server: TPKT length ${length} does not fit a Connection Confirm (11..${MAX_CONFIRM})`,
          ),
        );
      if (got < length) return;
      const selected = parseConfirm(head.subarray(0, length));
      if (selected instanceof RdpProbeError) return finish(selected);
      socket.removeListener('data', onData);
      startTls(selected);
    };
    socket.on('data', onData);

    const startTls = (protocol: 'tls' | 'nla') => {
      stage = 'during the TLS handshake';
      tls = tlsConnect({
        socket,
        // We only read the certificate, to pin it; trust is decided by the pin, not by a CA chain.
        rejectUnauthorized: false,
        // RFC 6066: SNI carries names, never addresses.
        ...(isIP(host) === 0 ? { servername: host } : {}),
        // Why: plant-floor Windows often speaks only TLS 1.0; nothing secret crosses this connection.
        minVersion: 'TLSv1',
        ciphers: 'DEFAULT:@SECLEVEL=0',
      });
      tls.on('error', (err) =>
        finish(new RdpProbeError('tls_failed', `TLS handshake failed: ${printable(err.message)}`, { cause: err })),
      );
      tls.once('secureConnect', () => {
        const x509 = tls!.getPeerX509Certificate();
        if (!x509)
          return finish(new RdpProbeError('tls_failed', 'TLS handshake failed: the server sent no certificate'));
        try {
          finish(describeCertificate(x509, protocol));
        } catch (err) {
          finish(new RdpProbeError('tls_failed', 'the server certificate could not be read', { cause: err }));
        }
      });
    };
  });
}
