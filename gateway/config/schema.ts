// The zod schema of config/gatehouse.yaml (docs/reference.md "Configuration"): shapes, defaults, value checks.
import { z } from 'zod';
import {
  envNamePattern,
  hostKeyFingerprintProblem,
  httpUrlProblem,
  normalizeCertSha256,
  isHost,
  isTimeZone,
  parseClockTime,
  parseHostPort,
  regexProblem,
} from './checks.js';
import { storageSchemas } from './storage-schema.js';
import { type ForwardProtocol, forwardingEntrySchema, plcRulesSchema, splitForwarding } from './plc-schema.js';

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A string schema with one extra check that reports its own message. */
const checked = (problem: (s: string) => string | undefined, base = z.string()) =>
  base.superRefine((s, ctx) => {
    const message = problem(s);
    if (message) ctx.addIssue({ code: 'custom', message });
  });

const nonEmpty = z.string().min(1, 'must not be empty');
/** A filesystem path; relative ones resolve against the loader's cwd (see resolveConfigPaths). */
const fsPath = nonEmpty;
const port = z.int().min(1).max(65535);
const host = checked((s) => (isHost(s) ? undefined : `"${s}" is not a hostname or IP address`));
const httpUrl = checked(httpUrlProblem);
const hostPortProblem = (allowPortZero: boolean) => (s: string) => {
  const r = parseHostPort(s, { allowPortZero });
  return 'error' in r ? r.error : undefined;
};
/** Where we listen: port 0 (any free port) is allowed so tests can bind ephemerally. */
const listen = checked(hostPortProblem(true));
/** Where a tunnel may go: a real port, never 0. */
const destination = checked(hostPortProblem(false));

const secretRefMessage = (input: unknown): string => {
  if (input === undefined) return 'required: { env: NAME } or { file: path }';
  // Why: an inline secret ends up in backups, diffs and screenshots of the config; refs never do.
  if (typeof input !== 'object' || input === null)
    return 'secrets are never written inline: use { env: NAME } or { file: path }';
  if (isRecord(input) && 'env' in input && 'file' in input) return 'give either env or file, not both';
  if (isRecord(input) && 'env' in input && Object.keys(input).length === 1)
    return 'env must name an environment variable (letters, digits and _)';
  if (isRecord(input) && 'file' in input && Object.keys(input).length === 1) return 'file must be a non-empty path';
  return 'expected { env: NAME } or { file: path }';
};

export const secretRefSchema = z.union(
  [
    z.strictObject({
      env: z.string().regex(envNamePattern, 'not an environment variable name (A-Z, 0-9, _)'),
    }),
    z.strictObject({ file: fsPath }),
  ],
  { error: (iss) => secretRefMessage(iss.input) },
);

const clockTime = checked((s) =>
  parseClockTime(s) === undefined ? 'expected HH:MM between 00:00 and 24:00' : undefined,
);

export const maintenanceWindowSchema = z
  .strictObject({
    days: z.array(z.enum(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'])).min(1, 'name at least one day'),
    from: clockTime,
    to: clockTime,
  })
  // `when` lets this run beside other problems in the window, so all are reported in one pass.
  .superRefine(
    (w: unknown, ctx) => {
      if (!isRecord(w)) return;
      const from = typeof w.from === 'string' ? parseClockTime(w.from) : undefined;
      const to = typeof w.to === 'string' ? parseClockTime(w.to) : undefined;
      if (from === 24 * 60)
        ctx.addIssue({
          code: 'custom',
          path: ['from'],
          message: 'a window cannot start at 24:00 (use 00:00)',
        });
      else if (from !== undefined && from === to)
        ctx.addIssue({
          code: 'custom',
          path: ['to'],
          message: 'from and to are equal: a window needs a length (00:00 to 24:00 is a whole day)',
        });
      // from > to is allowed: the window crosses midnight (e.g. 22:00 to 06:00).
    },
    { when: () => true },
  );

export const commandRuleSchema = z.strictObject({
  // An empty pattern matches every command: never what a rule author means.
  match: checked(regexProblem, nonEmpty),
  action: z.enum(['block', 'alert']),
  reason: nonEmpty,
});

const sshTargetSchema = z.strictObject({
  host,
  port: port.default(22),
  username: nonEmpty,
  // Why required: a relay that does not pin the target's host key hands the vendor session, and
  // the target credential, to whoever answers on that address.
  hostKeySha256: checked(
    hostKeyFingerprintProblem,
    z.string({
      error: (iss) =>
        iss.input === undefined
          ? 'required: pin the target host key ("SHA256:…", from `ssh-keyscan HOST | ssh-keygen -lf -`)'
          : undefined,
    }),
  ),
  credential: secretRefSchema,
});

const rdpTargetSchema = z
  .strictObject({
    host,
    port: port.default(3389),
    username: nonEmpty,
    credential: secretRefSchema,
    security: z.enum(['nla', 'tls', 'rdp', 'any']).default('nla'),
    // Off by default: guacd then refuses a certificate the target's trust chain does not vouch for.
    ignoreCert: z.boolean().default(false),
    // The pin: the SHA-256 of the target's TLS certificate (`gatehouse rdp-cert HOST`). Why: workstations
    // mostly carry self-signed certificates, and the only alternative, ignoreCert, hands the session and the
    // target credential to whoever answers on that address.
    certSha256: z
      .string()
      .transform((s, ctx) => {
        const pin = normalizeCertSha256(s);
        if (!pin) {
          ctx.addIssue({
            code: 'custom',
            message: 'expected 32 hex pairs separated by ":" (as `gatehouse rdp-cert HOST` prints), or 64 hex digits',
          });
          return z.NEVER;
        }
        return pin;
      })
      .optional(),
    // Both default off: clipboard and drive redirection are ways for files to cross the conduit.
    clipboard: z.boolean().default(false),
    drive: z.boolean().default(false),
  })
  .superRefine((r, ctx) => {
    if (r.certSha256 === undefined) return;
    // A pin beside ignoreCert would read as protection while guacd accepts any certificate.
    if (r.ignoreCert)
      ctx.addIssue({
        code: 'custom',
        path: ['ignoreCert'],
        message: 'ignoreCert: true contradicts certSha256: drop one (keep the pin)',
      });
    if (r.security === 'rdp')
      ctx.addIssue({
        code: 'custom',
        path: ['certSha256'],
        message: 'security "rdp" (legacy RDP encryption) has no TLS certificate to pin: use nla, tls or any',
      });
  });

export const targetSchema = z
  .strictObject({
    // The id is the SSH login name (`ssh eng-ws-01@gateway`): keep it to what every client accepts.
    id: z
      .string()
      .regex(/^[a-z0-9-]+$/, 'use only a-z, 0-9 and "-" (it is the SSH login name)')
      .max(63),
    name: nonEmpty,
    zone: nonEmpty,
    securityLevel: z.int().min(1).max(4),
    ssh: sshTargetSchema.optional(),
    rdp: rdpTargetSchema.optional(),
    approvers: z.array(nonEmpty).min(1, 'name at least one approver group'),
    approvalsRequired: z.int().min(1).max(5).default(1),
    maxDurationMinutes: z.int().min(1).max(1440).default(240),
    /** Absent: always inside a window. Present (even empty): outside every window is an emergency. */
    maintenanceWindows: z.array(maintenanceWindowSchema).optional(),
    commands: z
      .strictObject({
        mode: z.enum(['observe', 'alert', 'enforce']).default('observe'),
        rules: z.array(commandRuleSchema).default([]),
      })
      .prefault({}),
    forwarding: z.array(forwardingEntrySchema(destination)).default([]),
    plcRules: plcRulesSchema,
    fileTransfer: z.enum(['allow', 'deny']).default('deny'),
    // Keystrokes ("i" events) hold what is typed at no-echo prompts (passwords) and travel in evidence packs to
    // outside auditors: recorded only where the site opts in. Commands are captured from the screen either way.
    recording: z.strictObject({ keystrokes: z.boolean().default(false) }).prefault({}),
  })
  .superRefine(
    (t: unknown, ctx) => {
      if (!isRecord(t)) return;
      if (t.ssh === undefined && t.rdp === undefined)
        ctx.addIssue({ code: 'custom', message: 'a target needs ssh, rdp or both' });
      else if (t.ssh === undefined && Array.isArray(t.forwarding) && t.forwarding.length > 0)
        ctx.addIssue({
          code: 'custom',
          path: ['forwarding'],
          message: 'port forwarding needs an ssh target',
        });
    },
    { when: () => true },
  )
  // forwarding stays the list of destinations the forward check compares; what each declared one speaks
  // goes beside it (forwardProtocols), so every reader of the list keeps working on plain strings.
  .transform(
    ({
      forwarding,
      ...t
    }): typeof t & { forwarding: string[]; forwardProtocols?: Record<string, ForwardProtocol> } => ({
      ...t,
      ...splitForwarding(forwarding),
    }),
  );

const targetsSchema = z.array(targetSchema).superRefine(
  (targets: unknown, ctx) => {
    if (!Array.isArray(targets)) return;
    const firstIndex = new Map<string, number>();
    targets.forEach((t: unknown, i) => {
      const id = isRecord(t) ? t.id : undefined;
      if (typeof id !== 'string') return;
      const first = firstIndex.get(id);
      if (first === undefined) firstIndex.set(id, i);
      else
        ctx.addIssue({
          code: 'custom',
          path: [i, 'id'],
          message: `duplicate target id "${id}" (also targets[${first}].id)`,
        });
    });
  },
  { when: () => true },
);

const groups = z.array(nonEmpty).default([]);

const storageSection = storageSchemas({ secretRef: secretRefSchema, fsPath, host, port, httpUrl });

/** RFC 5424 APP-NAME: 1 to 48 printable US-ASCII characters, no space. */
const appName = z.string().regex(/^[!-~]{1,48}$/, 'use 1 to 48 printable ASCII characters without spaces');

export const auditSchema = z
  .strictObject({
    // Why outside the storage folder: whoever can read the folder could otherwise re-sign a forged log.
    signingKey: z.strictObject({ file: fsPath }).optional(),
    checkpointEverySeconds: z.int().min(1).max(3600).default(60),
    syslog: z
      .strictObject({
        host,
        port,
        transport: z.enum(['tcp', 'tls']).default('tls'),
        caFile: fsPath.optional(),
        appName: appName.default('gatehouse'),
        // When the stream is this far behind (records, or seconds since the oldest unsent one) it alerts.
        alertBacklog: z.int().min(1).default(10_000),
        alertAfterSeconds: z.int().min(1).default(60),
      })
      .superRefine((s, ctx) => {
        if (s.caFile !== undefined && s.transport !== 'tls')
          ctx.addIssue({ code: 'custom', path: ['caFile'], message: 'caFile only applies to transport: tls' });
      })
      .optional(),
  })
  .prefault({});

export const configSchema = z.strictObject({
  site: z.strictObject({
    name: nonEmpty,
    timezone: checked((s) => (isTimeZone(s) ? undefined : `"${s}" is not an IANA time zone (e.g. Europe/Berlin)`)),
  }),
  http: z.strictObject({
    listen,
    // No trailing slash, so `${publicUrl}/auth/callback` is always one slash.
    publicUrl: httpUrl.transform((s) => s.replace(/\/+$/, '')),
    tls: z.strictObject({ cert: fsPath, key: fsPath }).optional(),
  }),
  ssh: z.strictObject({
    listen,
    hostKeys: z.array(fsPath).min(1, 'name at least one host key file'),
    // From TCP accept to authenticated: identification, key exchange and login must fit in it.
    loginGraceSeconds: z.int().min(1).max(600).default(30),
  }),
  oidc: z.strictObject({
    issuer: httpUrl,
    clientId: nonEmpty,
    clientSecret: secretRefSchema,
    roleClaim: nonEmpty.default('groups'),
    roles: z.strictObject({ vendor: groups, supervisor: groups, auditor: groups, admin: groups }),
    orgClaim: nonEmpty.default('org'),
  }),
  stepUp: z.strictObject({ maxAgeMinutes: z.int().min(1).max(480).default(15) }).prefault({}),
  storage: storageSection.storage,
  node: storageSection.node,
  audit: auditSchema,
  guacd: z
    .strictObject({
      host: host.default('127.0.0.1'),
      port: port.default(4822),
      // Where guacd sees `<storage.dir>/sessions` when its file system differs (a container's mount); absent = the same path.
      recordingDir: z.string().regex(/^\//, 'must be an absolute path (as guacd sees it)').optional(),
    })
    .prefault({}),
  notify: z.strictObject({ webhooks: z.array(httpUrl).default([]) }).prefault({}),
  targets: targetsSchema,
});

export type Config = z.output<typeof configSchema>;
export type TargetConfig = Config['targets'][number];
export type SshTargetConfig = NonNullable<TargetConfig['ssh']>;
export type RdpTargetConfig = NonNullable<TargetConfig['rdp']>;
export type MaintenanceWindow = z.output<typeof maintenanceWindowSchema>;
export type CommandRule = z.output<typeof commandRuleSchema>;
export type SecretRef = z.output<typeof secretRefSchema>;
export type AuditConfig = z.output<typeof auditSchema>;
export type SyslogConfig = NonNullable<AuditConfig['syslog']>;
