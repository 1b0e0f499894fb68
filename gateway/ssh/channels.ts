// What a vendor may open through the gateway besides a shell or exec: pure decisions, one human reason each.
import type { TargetConfig } from '../config.js';

export type ChannelDecision = { allow: true } | { allow: false; code: string; reason: string };

const allow: ChannelDecision = { allow: true };
const refuse = (code: string, reason: string): ChannelDecision => ({ allow: false, code, reason });

/**
 * Requests and channels that are never relayed. Why: each lets traffic or credentials cross the
 * conduit in a way the recording cannot show (agent → the vendor's keys usable from the target; X11 and
 * remote forwarding → the target reaches back into the vendor's network; env → LD_PRELOAD and friends).
 */
export const ALWAYS_REFUSED = {
  'auth-agent': 'agent forwarding is not allowed through the gateway',
  x11: 'X11 forwarding is not allowed through the gateway',
  'tcpip-forward': 'remote port forwarding is not allowed through the gateway',
  'streamlocal-forward': 'remote socket forwarding is not allowed through the gateway',
  env: 'environment variables are not passed to the target',
  'direct-streamlocal': 'socket forwarding is not allowed through the gateway',
} as const;
export type AlwaysRefused = keyof typeof ALWAYS_REFUSED;

export function subsystemDecision(target: Pick<TargetConfig, 'id' | 'fileTransfer'>, name: string): ChannelDecision {
  if (name !== 'sftp')
    return refuse('subsystem_refused', `subsystem ${JSON.stringify(name.slice(0, 64))} is not available`);
  if (target.fileTransfer !== 'allow')
    return refuse('file_transfer_denied', `file transfer is not allowed for ${target.id}`);
  return allow;
}

/** Server ends of file-transfer tools that bypass SFTP: `scp -O` (scp -t / -f) and `rsync --server`. */
const LEGACY_SCP = /(?:^|[\s;&|'"(/])scp(?:\s+-\S+)*\s+-[A-Za-z]*[tf](?:\s|$)/;
const RSYNC_SERVER = /(?:^|[\s;&|'"(/])rsync\s+--server\b/;

/**
 * exec commands that speak a file-transfer protocol of their own. Why refused on every target: SFTP is where the
 * gateway sees each file (name, size, SHA-256) and where `fileTransfer: deny` is enforced; the legacy scp
 * protocol and rsync would carry files past both. Modern scp uses SFTP and works where file transfer is allowed.
 */
export function execDecision(target: Pick<TargetConfig, 'id'>, command: string): ChannelDecision {
  if (LEGACY_SCP.test(command))
    return refuse(
      'legacy_scp_refused',
      `the legacy scp protocol (scp -O) is not available on ${target.id}: use scp without -O, or sftp`,
    );
  if (RSYNC_SERVER.test(command))
    return refuse('rsync_refused', `rsync is not available on ${target.id}: use sftp or scp`);
  return allow;
}

/**
 * direct-tcpip (`ssh -L`, `ssh -W`): only to a host:port on the target's forwarding list, compared exactly.
 * Why exact text: resolving names here would let DNS decide what the vendor reaches.
 */
export function forwardDecision(
  target: Pick<TargetConfig, 'id' | 'forwarding'>,
  host: string,
  port: number,
): ChannelDecision {
  const wanted = host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
  if (target.forwarding.includes(wanted)) return allow;
  const shown = wanted.length > 100 ? `${wanted.slice(0, 100)}…` : wanted;
  return refuse('forward_refused', `forwarding to ${shown} is not allowed for ${target.id}`);
}
