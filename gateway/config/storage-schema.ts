// The `storage` and `node` config sections: which engine keeps the state, how to reach PostgreSQL, who this node is.
import { z } from 'zod';

/** Built by schema.ts, which owns the shared value schemas (secret refs, paths, hosts). */
export function storageSchemas(p: {
  secretRef: z.ZodType<{ env: string } | { file: string }>;
  fsPath: z.ZodString;
  host: z.ZodType<string>;
  port: z.ZodNumber;
  httpUrl: z.ZodType<string>;
}) {
  const tls = z.strictObject({
    /** CA bundle that signs the server's certificate; without it the system CAs are used. */
    caFile: p.fsPath.optional(),
    /** Client certificate authentication (both or neither). */
    certFile: p.fsPath.optional(),
    keyFile: p.secretRef.optional(),
    /** Only for a lab: accepts any server certificate. */
    rejectUnauthorized: z.boolean().default(true),
  });
  const postgres = z
    .strictObject({
      // The URL carries the password, so it is a secret ref, never inline.
      url: p.secretRef.optional(),
      host: p.host.optional(),
      port: p.port.optional(),
      database: z.string().min(1).optional(),
      user: z.string().min(1).optional(),
      password: p.secretRef.optional(),
      tls: tls.optional(),
      /** Connections per node (default 10). */
      poolSize: z.int().min(2).max(200).default(10),
    })
    .superRefine((v, ctx) => {
      if (v.url && (v.host || v.port || v.database || v.user || v.password))
        ctx.addIssue({ code: 'custom', message: 'give either url or host/port/database/user/password, not both' });
      if (!v.url && !v.host) ctx.addIssue({ code: 'custom', message: 'give url ({ env: NAME }) or host' });
      if (v.tls && Boolean(v.tls.certFile) !== Boolean(v.tls.keyFile))
        ctx.addIssue({ code: 'custom', path: ['tls'], message: 'certFile and keyFile go together' });
    });
  const storage = z
    .strictObject({
      dir: p.fsPath.default('recordings'),
      engine: z.enum(['lowdb', 'postgres']).default('lowdb'),
      postgres: postgres.optional(),
      /** lowdb: closed requests and ended sessions older than this move from db.json to history/*.jsonl (default 30). */
      historyAfterDays: z.number().int().min(1).max(36_500).optional(),
    })
    .superRefine((v, ctx) => {
      if (v.engine === 'postgres' && !v.postgres)
        ctx.addIssue({ code: 'custom', path: ['postgres'], message: 'engine postgres needs storage.postgres' });
    })
    .prefault({});
  const node = z
    .strictObject({
      id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and -, at most 63'),
      /** Where the other nodes reach this one (live watch relay). */
      internalUrl: p.httpUrl,
    })
    .optional();
  return { storage, node };
}
