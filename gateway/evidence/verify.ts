// Checks an evidence pack offline, from the zip alone: signature, every file's size and SHA-256, nothing
// added or missing, and the audit chain inside it. Stops at the first problem and names it.
import crypto, { type KeyObject } from 'node:crypto';
import type { Readable } from 'node:stream';
import yauzl, { type Entry, type ZipFile } from 'yauzl';
import { keyIdOf, signatureCheck, type VerifyKey, verifySignature } from '../audit/audit.js';
import { ChainVerifier } from '../core/audit-chain.js';
import { LineSplitter } from './lines.js';
import {
  AUDIT_FILE,
  type Manifest,
  MANIFEST,
  type ManifestFile,
  PACK_FORMAT,
  PUBLIC_KEY,
  REQUIRED_FILES,
  SIGNATURE,
} from './manifest.js';

export interface PackSummary {
  keyId: string;
  /** True when the signature was checked against a key the caller pinned, not only the one in the pack. */
  pinned: boolean;
  period: Manifest['period'];
  site: Manifest['site'];
  generatedAt: string;
  files: number;
  bytes: number;
  audit: { records: number; firstSeq: number | null; lastSeq: number | null; checkpointSeq: number | null };
  notes: string[];
}

export type PackVerdict = { ok: true; summary: PackSummary } | { ok: false; problem: string };

class PackProblem extends Error {}
const problem = (message: string): never => {
  throw new PackProblem(message);
};

const MAX_ENTRIES = 200_000;
const LIMITS = { [MANIFEST]: 64 << 20, [SIGNATURE]: 1024, [PUBLIC_KEY]: 16 << 10 } as const;
const HEX64 = /^[0-9a-f]{64}$/;

export interface VerifyPackOptions {
  /** PEM of the key the pack must be signed with (the site's pinned gateway key). */
  publicKeyPem?: string;
}

export async function verifyPack(zipPath: string, opts: VerifyPackOptions = {}): Promise<PackVerdict> {
  let pinned: KeyObject | undefined;
  try {
    pinned = opts.publicKeyPem === undefined ? undefined : ed25519(opts.publicKeyPem, 'the pinned key');
  } catch (err) {
    return { ok: false, problem: (err as Error).message };
  }
  let zip: ZipFile;
  try {
    zip = await yauzl.openPromise(zipPath, { autoClose: false, strictFileNames: true, validateEntrySizes: true });
  } catch (err) {
    return { ok: false, problem: `not a readable zip file: ${(err as Error).message}` };
  }
  try {
    return { ok: true, summary: await check(zip, pinned) };
  } catch (err) {
    if (err instanceof PackProblem) return { ok: false, problem: err.message };
    return { ok: false, problem: `the zip file is damaged: ${(err as Error).message}` };
  } finally {
    zip.close();
  }
}

function ed25519(pem: string, what: string): KeyObject {
  let key: KeyObject;
  try {
    key = crypto.createPublicKey(pem);
  } catch {
    return problem(`${what} is not a PEM public key`);
  }
  if (key.asymmetricKeyType !== 'ed25519') problem(`${what} is not an Ed25519 key`);
  return key;
}

async function readSmall(zip: ZipFile, entry: Entry, limit: number): Promise<Buffer> {
  if (entry.uncompressedSize > limit)
    problem(`${entry.fileName} is implausibly large (${entry.uncompressedSize} bytes)`);
  const chunks: Buffer[] = [];
  for await (const c of (await zip.openReadStreamPromise(entry)) as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

async function check(zip: ZipFile, pinned: KeyObject | undefined): Promise<PackSummary> {
  const entries = new Map<string, Entry>();
  for await (const entry of zip.eachEntry()) {
    if (entries.has(entry.fileName)) problem(`${entry.fileName} appears twice in the zip (a second copy was added)`);
    if (entries.size >= MAX_ENTRIES) problem('the zip holds far too many files to be a pack');
    entries.set(entry.fileName, entry);
  }
  const need = (name: typeof MANIFEST | typeof SIGNATURE | typeof PUBLIC_KEY) =>
    entries.get(name) ?? problem(`${name} is missing: this is not a complete evidence pack`);
  const manifestEntry = need(MANIFEST);
  const sigEntry = need(SIGNATURE);
  const keyEntry = need(PUBLIC_KEY);
  const manifestBytes = await readSmall(zip, manifestEntry, LIMITS[MANIFEST]);
  const sig = await readSmall(zip, sigEntry, LIMITS[SIGNATURE]);
  const included = ed25519((await readSmall(zip, keyEntry, LIMITS[PUBLIC_KEY])).toString('utf8'), PUBLIC_KEY);
  const includedId = keyIdOf(included);

  // 1. The signature, over the exact bytes of manifest.json.
  const key = pinned ?? included;
  const keyId = keyIdOf(key);
  if (sig.length !== 64) problem(`${SIGNATURE} is not an Ed25519 signature (${sig.length} bytes, expected 64)`);
  if (!crypto.verify(null, manifestBytes, key, sig)) {
    if (pinned && includedId !== keyId && crypto.verify(null, manifestBytes, included, sig))
      problem(`the pack is signed by key ${includedId}, not by the pinned key ${keyId}`);
    problem(
      `${SIGNATURE} does not verify over ${MANIFEST} with key ${keyId}: the manifest was modified or signed by another key`,
    );
  }
  if (pinned && includedId !== keyId) problem(`${PUBLIC_KEY} (key ${includedId}) is not the pinned key ${keyId}`);

  // 2. The manifest's shape (it is signed, but may come from an older or newer gateway).
  let m: Manifest;
  try {
    m = JSON.parse(manifestBytes.toString('utf8')) as Manifest;
  } catch {
    return problem(`${MANIFEST} is not valid JSON`);
  }
  if (m?.format !== PACK_FORMAT) problem(`${MANIFEST} is not a ${PACK_FORMAT} manifest (format ${String(m?.format)})`);
  if (m.key?.keyId !== keyId)
    problem(`${MANIFEST} names key ${String(m.key?.keyId)}, but it is signed by key ${keyId}`);
  if (!Array.isArray(m.files)) problem(`${MANIFEST} has no file list`);
  const listed = new Map<string, ManifestFile>();
  for (const f of m.files) {
    if (typeof f?.path !== 'string' || !Number.isSafeInteger(f.bytes) || f.bytes < 0 || !HEX64.test(String(f.sha256)))
      problem(`${MANIFEST} has a malformed file entry: ${JSON.stringify(f).slice(0, 200)}`);
    if (listed.has(f.path) || f.path === MANIFEST || f.path === SIGNATURE) problem(`${MANIFEST} lists ${f.path} twice`);
    listed.set(f.path, f);
  }
  for (const name of REQUIRED_FILES) if (!listed.has(name)) problem(`${MANIFEST} does not list ${name}`);

  // 3. Nothing added, nothing missing.
  for (const name of entries.keys())
    if (name !== MANIFEST && name !== SIGNATURE && !listed.has(name))
      problem(`${name} is in the pack but not in the manifest (a file was added)`);
  for (const name of listed.keys())
    if (!entries.has(name)) problem(`${name} is listed in the manifest but missing from the pack`);

  // 4. Every file's size and SHA-256; the audit chain while its bytes go by.
  let total = 0;
  let audit: AuditCheck | undefined;
  for (const f of listed.values()) {
    const entry = entries.get(f.path)!;
    if (entry.uncompressedSize !== f.bytes)
      problem(`${f.path} is ${entry.uncompressedSize} bytes, the manifest says ${f.bytes} (the file was modified)`);
    const chain =
      f.path === AUDIT_FILE ? (audit = new AuditCheck(m, { publicKey: key, publicKeyPem: '', keyId })) : undefined;
    const hash = crypto.createHash('sha256');
    let bytes = 0;
    let stream: Readable;
    try {
      stream = await zip.openReadStreamPromise(entry);
    } catch (err) {
      return problem(`${f.path} cannot be read from the zip: ${(err as Error).message}`);
    }
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        hash.update(chunk);
        bytes += chunk.length;
        chain?.push(chunk);
      }
    } catch (err) {
      if (err instanceof PackProblem) throw err;
      return problem(`${f.path} is damaged in the zip: ${(err as Error).message}`);
    }
    const sha256 = hash.digest('hex');
    if (bytes !== f.bytes || sha256 !== f.sha256)
      problem(`${f.path} was modified: its SHA-256 is ${sha256}, the manifest says ${f.sha256}`);
    if (f.sealedSha256 !== undefined && f.sealedSha256 !== sha256)
      problem(
        `${f.path} does not match the SHA-256 sealed when session ${String(f.sessionId)} ended: the recording was altered after sealing`,
      );
    chain?.end();
    total += bytes;
  }
  if (!audit) problem(`${AUDIT_FILE} was not checked`);

  return {
    keyId,
    pinned: pinned !== undefined,
    period: m.period,
    site: m.site,
    generatedAt: m.generatedAt,
    files: listed.size,
    bytes: total,
    audit: {
      records: m.audit.records,
      firstSeq: m.audit.firstSeq,
      lastSeq: m.audit.lastSeq,
      checkpointSeq: m.audit.checkpoint?.seq ?? null,
    },
    notes: Array.isArray(m.notes) ? m.notes.map(String) : [],
  };
}

/** audit.jsonl in a pack: every line re-hashed and linked from the manifest's `prev`; checkpoints checked. */
class AuditCheck {
  private readonly v: ChainVerifier;
  private readonly lines = new LineSplitter();
  private first: number | null = null;

  constructor(
    private readonly m: Manifest,
    private readonly key: VerifyKey,
  ) {
    const a = m.audit;
    if (!a || typeof a !== 'object') problem(`${MANIFEST} has no audit section`);
    this.v = new ChainVerifier({
      checkSignature: signatureCheck(key),
      checkpointEvery: Number(a.checkpointEvery) || undefined,
    });
    if (a.firstSeq !== null) {
      if (!Number.isSafeInteger(a.firstSeq) || a.firstSeq < 1 || !HEX64.test(String(a.prev)))
        problem(`${MANIFEST} states no valid first seq and prev for ${AUDIT_FILE}`);
      // Seeded from the manifest (signed): the first line must link to the record before the period.
      this.v.seq = a.firstSeq - 1;
      this.v.hash = a.prev!;
    }
    if (a.signedHead) this.v.watchSeq = a.signedHead.seq;
  }

  push(chunk: Buffer): void {
    for (const { bytes } of this.lines.push(chunk)) {
      if (this.first === null) this.first = this.v.seq + 1;
      if (!this.v.pushBytes(bytes, 0, bytes.length)) {
        const f = this.v.failure!;
        problem(`${AUDIT_FILE} line ${f.line} (record seq ${f.seq}): ${f.reason}`);
      }
    }
  }

  end(): void {
    const a = this.m.audit;
    if (this.lines.rest > 0) problem(`${AUDIT_FILE} ends in the middle of a line (it was cut)`);
    const lastSeq = this.first === null ? null : this.v.seq;
    if (a.firstSeq === null) {
      if (lastSeq !== null) problem(`${AUDIT_FILE} has records but the manifest says the period has none`);
      return;
    }
    if (lastSeq !== a.lastSeq)
      problem(
        `${AUDIT_FILE} ends at seq ${String(lastSeq)}, the manifest says ${String(a.lastSeq)} (records were cut off)`,
      );
    if (a.checkpoint) {
      const c = a.checkpoint;
      if (this.v.lastCheckpoint.seq !== c.seq || this.v.lastCheckpoint.hash !== c.hash)
        problem(`the signed checkpoint the manifest names (seq ${c.seq}) is not the last checkpoint in ${AUDIT_FILE}`);
      if (c.seq !== lastSeq) problem(`${AUDIT_FILE} goes on after its closing checkpoint (seq ${c.seq})`);
    }
    const h = a.signedHead;
    if (h) {
      if (h.keyId !== this.key.keyId || !verifySignature(this.key.publicKey, `${h.seq}:${h.hash}`, h.sig))
        problem(`the audit log's signed head in ${MANIFEST} is not signed by key ${this.key.keyId}`);
      if (this.v.watchedHash !== undefined && this.v.watchedHash !== h.hash)
        problem(`record seq ${h.seq} in ${AUDIT_FILE} differs from the audit log's signed head`);
    }
  }
}
