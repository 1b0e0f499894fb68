// Port forwarding through the gateway: direct-tcpip only to the target's forwarding list; every remote/socket forward refused.
import type { Client, Connection, ServerChannel } from 'ssh2';
import type { TargetConfig } from '../config.js';
import { ALWAYS_REFUSED, forwardDecision } from './channels.js';
import { pipeBoth } from '../pipe.js';
import { pipeInspected, PLC_PORTS, type PlcProtocol, type SessionConduit } from '../conduit/conduit.js';

type ForwardInfo = { destIP: string; destPort: number; srcIP: string; srcPort: number };

/** What a forward needs of its connection-level session (session.ts), named here so this file need not import it. */
export interface ForwardHost {
  targetConfig: TargetConfig;
  target: Client;
  refused(kind: string, detail: Record<string, unknown>): void;
  forwardOpened(destination: string, inspected?: PlcProtocol): void;
  /** Where an inspected forward's operations are judged and recorded. */
  conduit: Pick<SessionConduit, 'forward'>;
}

/** `ssh -L` / `ssh -W`: checked against the list, then opened from the target's side (forwardOut). */
export function handleForward(
  s: ForwardHost,
  accept: () => ServerChannel,
  reject: () => void,
  info: ForwardInfo,
): void {
  const d = forwardDecision(s.targetConfig, String(info.destIP), Number(info.destPort));
  if (!d.allow) {
    reject();
    return s.refused('direct-tcpip', {
      destination: `${String(info.destIP).slice(0, 100)}:${info.destPort}`,
      code: d.code,
      reason: d.reason,
    });
  }
  // Why from the target: the vendor reaches only what the target reaches, as if working on it.
  s.target.forwardOut('127.0.0.1', 0, info.destIP, info.destPort, (err, back) => {
    if (err) {
      reject();
      return s.refused('direct-tcpip', {
        destination: `${info.destIP}:${info.destPort}`,
        code: 'forward_failed',
        reason: err.message,
      });
    }
    const front = accept();
    if (!front) return back.close();
    const destination = `${info.destIP}:${info.destPort}`;
    const protocol = inspectedProtocol(s.targetConfig, destination, Number(info.destPort));
    s.forwardOpened(destination, protocol);
    if (!protocol) return pipeBoth(front, back);
    const f = s.conduit.forward(destination, protocol);
    pipeInspected(front, back, protocol, f.record, f.done);
  });
}

/**
 * What a forward is read as: the protocol its forwarding entry declares (`tcp`: none), else the one its
 * port is known for (502 Modbus/TCP, 102 ISO-on-TCP). Why by port too: a PLC port on a plain entry is
 * still a PLC, and the rules should see it without the site having to say so.
 */
export function inspectedProtocol(
  target: Pick<TargetConfig, 'forwardProtocols'>,
  destination: string,
  port: number,
): PlcProtocol | undefined {
  const declared = target.forwardProtocols?.[destination];
  if (declared) return declared === 'tcp' ? undefined : declared;
  return PLC_PORTS[port];
}

const GLOBAL_REFUSED: Record<string, keyof typeof ALWAYS_REFUSED> = {
  'tcpip-forward': 'tcpip-forward',
  'streamlocal-forward@openssh.com': 'streamlocal-forward',
};

/** Remote forwarding (`ssh -R`) and socket channels are refused and audited; other global requests just refused. */
export function refuseGlobalRequests(s: ForwardHost, front: Connection): void {
  front.on('request', (_accept: unknown, reject: (() => void) | undefined, name: string, info: unknown) => {
    reject?.();
    const kind = GLOBAL_REFUSED[name];
    if (kind) s.refused(kind, { reason: ALWAYS_REFUSED[kind], request: info ?? null });
  });
  front.on(
    'openssh.streamlocal',
    (_accept: unknown, reject: (() => void) | undefined, info: { socketPath?: string }) => {
      reject?.();
      s.refused('direct-streamlocal', {
        reason: ALWAYS_REFUSED['direct-streamlocal'],
        socketPath: String(info?.socketPath ?? '').slice(0, 200),
      });
    },
  );
}
