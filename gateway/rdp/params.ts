// guacd connection parameters for an RDP session: every value comes from the target's config and the gateway;
// the browser contributes its screen size and DPI only (bounded), never a parameter name or value.
import { z } from 'zod';
import type { RdpTargetConfig } from '../config.js';
import { invalidInput } from '../errors.js';

export interface ClientSize {
  width: number;
  height: number;
  dpi: number;
}

const ClientSizeSchema = z.strictObject({
  width: z.int().min(320).max(7680).default(1280),
  height: z.int().min(200).max(4320).default(800),
  dpi: z.int().min(48).max(480).default(96),
});

/** The size a page asks for (body of the token request); anything else in it is refused. */
export function parseClientSize(body: unknown): ClientSize {
  const r = ClientSizeSchema.safeParse(body ?? {});
  if (!r.success)
    throw invalidInput('invalid_size', 'send {width, height, dpi}: 320–7680 × 200–4320 pixels, 48–480 DPI');
  return r.data;
}

export interface VendorParamsInput {
  rdp: RdpTargetConfig;
  /** Resolved from rdp.credential at connect time; never stored or logged. */
  password: string;
  /** Folder of the recording as guacd sees it, and the file name in it. */
  recordingPath: string;
  recordingName: string;
  /** Where the redirected drive lives as guacd sees it (only if the target enables drives). */
  drivePath?: string;
  size: ClientSize;
  timezone: string;
}

const flag = (on: boolean) => (on ? 'true' : 'false');

/**
 * The owner's connection. Why every risky feature is named and switched off rather than left to guacd's
 * defaults: a guacd upgrade must not quietly open a channel (printing, SFTP, audio input, RemoteApp) that
 * the conduit's owner never agreed to. Clipboard and drive follow the target's config.
 */
export function vendorParams(o: VendorParamsInput): Record<string, string> {
  const { rdp, size } = o;
  const drive = rdp.drive && o.drivePath !== undefined;
  return {
    hostname: rdp.host,
    port: String(rdp.port),
    username: rdp.username,
    password: o.password,
    security: rdp.security,
    'ignore-cert': flag(rdp.ignoreCert),
    // Never trust on first use: that would pin whoever answered first, silently.
    'cert-tofu': 'false',
    ...(rdp.certSha256 ? { 'cert-fingerprints': certFingerprints(rdp.certSha256) } : {}),
    'disable-auth': 'false',
    width: String(size.width),
    height: String(size.height),
    dpi: String(size.dpi),
    timezone: o.timezone,
    'client-name': 'Gatehouse',
    'resize-method': 'display-update',
    'read-only': 'false',
    // Recording: always on, output and mouse included, keystrokes not (they would hold passwords typed in).
    'recording-path': o.recordingPath,
    'recording-name': o.recordingName,
    'create-recording-path': 'true',
    'recording-exclude-output': 'false',
    'recording-exclude-mouse': 'false',
    'recording-include-keys': 'false',
    'recording-write-existing': 'false',
    // Files across the conduit: clipboard and drive only where the target allows them.
    'disable-copy': flag(!rdp.clipboard),
    'disable-paste': flag(!rdp.clipboard),
    'enable-drive': flag(drive),
    ...(drive ? { 'drive-name': 'Gatehouse', 'drive-path': o.drivePath!, 'create-drive-path': 'true' } : {}),
    'disable-download': flag(!drive),
    'disable-upload': flag(!drive),
    'enable-printing': 'false',
    'enable-sftp': 'false',
    'enable-audio-input': 'false',
    'disable-audio': 'true',
    'console-audio': 'false',
    'static-channels': '',
    'remote-app': '',
    'initial-program': '',
    'wol-send-packet': 'false',
  };
}

/** A read-only viewer joining a live connection: its input is dropped by guacd (and by our relay before that). */
export function viewerParams(size: ClientSize): Record<string, string> {
  return { 'read-only': 'true', width: String(size.width), height: String(size.height), dpi: String(size.dpi) };
}

/**
 * The pin as guacd's `cert-fingerprints` list: one entry, `sha256:<lower-case hex pairs>`. Why only this form:
 * FreeRDP 2 (inside most guacd builds, 1.6 included) reads every entry as `<hash name>:<fingerprint>` and, on an
 * entry whose hash name it does not know (a bare `cf:7a:…` reads as hash "cf"), loops forever without advancing:
 * the connection hangs with one core burnt and nothing drawn. FreeRDP compares the fingerprint case-insensitively.
 */
export function certFingerprints(pin: string): string {
  return `sha256:${pin.toLowerCase()}`;
}

/**
 * Parameters whose value guacd must honour for the session to be what the config says: the recording, a
 * restriction switched on, the certificate pin. guacd ignores parameters it does not ask for, so each of these
 * must be among the ones it asks for (see GuacdLink.handshake).
 */
export function mustUnderstand(params: Readonly<Record<string, string>>): string[] {
  const always = ['recording-path', 'recording-name', 'create-recording-path'];
  const restrictions = ['disable-copy', 'disable-paste', 'disable-download', 'disable-upload', 'read-only'].filter(
    (n) => params[n] === 'true',
  );
  const pin = params['cert-fingerprints'] ? ['cert-fingerprints'] : [];
  return [...always.filter((n) => n in params), ...restrictions, ...pin];
}
