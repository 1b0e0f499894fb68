// The audit chain's pure rules: canonical JSON, record linking, and verification of lines in memory.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  AUDIT_EVENT_TYPES,
  type ChainInput,
  canonicalJson,
  GENESIS,
  GENESIS_HASH,
  hashRecord,
  isAuditEventType,
  linkRecord,
  sealRecord,
  verifyRecords,
} from '../../gateway/core/audit.js';

/** An independent canonical encoder, to check the real one against. */
const sortedJson = (v: unknown): string =>
  typeof v !== 'object' || v === null
    ? JSON.stringify(v)
    : Array.isArray(v)
      ? `[${v.map(sortedJson).join(',')}]`
      : `{${Object.keys(v)
          .sort()
          .map((k) => `${JSON.stringify(k)}:${sortedJson((v as Record<string, unknown>)[k])}`)
          .join(',')}}`;

const actor = { kind: 'user', id: 'usr_1', name: 'Vera Vendor', ip: '10.0.0.5' } as const;
const at = '2026-11-23T10:00:00.000Z';

/** A chain of `n` records as lines, built with the real sealer. */
function chain(n: number, make: (i: number) => ChainInput = (i) => ({ type: 'command.executed', actor, data: { i } })) {
  const lines: string[] = [];
  let prev = GENESIS;
  for (let i = 0; i < n; i++) {
    const { record, line } = sealRecord(prev, make(i), at);
    lines.push(line);
    prev = record;
  }
  return lines;
}

describe('canonicalJson', () => {
  it('sorts keys at every depth and writes no whitespace', () => {
    const a = canonicalJson({ b: 1, a: { z: [3, { y: 1, x: 2 }], m: 'x' }, c: null });
    expect(a).toBe('{"a":{"m":"x","z":[3,{"x":2,"y":1}]},"b":1,"c":null}');
  });

  it('is the same whatever order the keys were inserted in', () => {
    const one = { id: 'r1', target: { zone: 'Cell 2', id: 't' }, n: 2 };
    const two = { n: 2, target: { id: 't', zone: 'Cell 2' }, id: 'r1' };
    expect(canonicalJson(one)).toBe(canonicalJson(two));
  });

  it('sorts by UTF-16 code units, numeric-looking keys included', () => {
    expect(canonicalJson({ 9: 'a', 10: 'b', B: 1, a: 2, é: 3 })).toBe('{"10":"b","9":"a","B":1,"a":2,"é":3}');
  });

  it('writes strings and numbers as JSON.stringify does, leaves out undefined, honours toJSON', () => {
    const s = 'quote " backslash \\ tab \t nul \u0000 lone \ud800 emoji 😀';
    expect(canonicalJson({ s })).toBe(`{"s":${JSON.stringify(s)}}`);
    expect(canonicalJson({ a: undefined, b: [undefined, 1e21, -0, 0.1] })).toBe('{"b":[null,1e+21,0,0.1]}');
    expect(canonicalJson({ when: new Date(at) })).toBe(`{"when":"${at}"}`);
  });

  it('refuses values JSON cannot carry faithfully', () => {
    expect(() => canonicalJson({ n: Number.NaN })).toThrow(TypeError);
    expect(() => canonicalJson({ n: Number.POSITIVE_INFINITY })).toThrow(TypeError);
    expect(() => canonicalJson({ n: 1n })).toThrow(TypeError);
  });
});

describe('event catalog', () => {
  it('holds noun.past_tense names, each once', () => {
    expect(new Set(AUDIT_EVENT_TYPES).size).toBe(AUDIT_EVENT_TYPES.length);
    for (const t of AUDIT_EVENT_TYPES) expect(t).toMatch(/^[a-z]+\.[a-z_]+$/);
    expect(isAuditEventType('request.approved')).toBe(true);
    expect(isAuditEventType('request.approve')).toBe(false);
    expect(isAuditEventType(42)).toBe(false);
  });
});

describe('linking records', () => {
  it('starts from 64 zeros and hashes prev + canonical JSON of the record without hash', () => {
    const first = linkRecord(GENESIS, { type: 'gateway.started', actor: { kind: 'system', id: 'gateway' } }, at);
    expect(first.seq).toBe(1);
    expect(first.prev).toBe(GENESIS_HASH);
    expect(GENESIS_HASH).toMatch(/^0{64}$/);
    const { hash, ...rest } = first;
    const expected = createHash('sha256')
      .update(first.prev + sortedJson(rest))
      .digest('hex');
    expect(hash).toBe(expected);
    expect(hashRecord(first)).toBe(hash);

    const second = linkRecord(first, { type: 'request.created', actor, subject: { requestId: 'req_1' } }, at);
    expect(second.seq).toBe(2);
    expect(second.prev).toBe(first.hash);
    expect(hashRecord(second)).toBe(second.hash);
  });

  it('writes the line in the documented order with canonical nested objects', () => {
    const { record, line } = sealRecord(
      GENESIS,
      { type: 'request.approved', actor, subject: { targetId: 't', requestId: 'r' }, data: { z: 1, a: 2 } },
      at,
    );
    expect(Object.keys(JSON.parse(line))).toEqual(['seq', 'at', 'type', 'actor', 'subject', 'data', 'prev', 'hash']);
    expect(line).toContain('"subject":{"requestId":"r","targetId":"t"},"data":{"a":2,"z":1}');
    expect(JSON.parse(line)).toEqual(record);
  });

  it('refuses unknown types and non-object parts', () => {
    expect(() => sealRecord(GENESIS, { type: 'nope.done' as never, actor }, at)).toThrow(/unknown audit event type/);
    expect(() => sealRecord(GENESIS, { type: 'auth.login', actor, data: [] as never }, at)).toThrow(/data/);
  });
});

describe('verifyRecords', () => {
  it('accepts an intact chain', () => {
    const r = verifyRecords(chain(25));
    expect(r).toMatchObject({ ok: true, records: 25, checkpoints: 0 });
  });

  it('names the first bad record for a flipped byte', () => {
    const lines = chain(10);
    lines[6] = lines[6]!.replace('"i":6', '"i":7');
    expect(verifyRecords(lines)).toMatchObject({
      ok: false,
      seq: 7,
      line: 7,
      records: 6,
      reason: /hash mismatch/,
    });
  });

  it('names a deleted record, a duplicated one and a swap', () => {
    const lines = chain(10);
    const deleted = lines.filter((_, i) => i !== 3);
    expect(verifyRecords(deleted)).toMatchObject({
      ok: false,
      seq: 4,
      line: 4,
      reason: /expected seq 4, found seq 5/,
    });
    const swapped = [...lines];
    [swapped[4], swapped[5]] = [swapped[5]!, swapped[4]!];
    expect(verifyRecords(swapped)).toMatchObject({ ok: false, seq: 5, reason: /found seq 6/ });
    const duplicated = [...lines.slice(0, 3), lines[2]!, ...lines.slice(3)];
    expect(verifyRecords(duplicated)).toMatchObject({ ok: false, seq: 4, reason: /found seq 3/ });
  });

  it('refuses text that parses to the same values but is not the canonical line', () => {
    const lines = chain(3);
    const spaced = [...lines];
    spaced[1] = spaced[1]!.replace('"seq":2,', '"seq": 2,');
    expect(verifyRecords(spaced)).toMatchObject({ ok: false, seq: 2, reason: /canonical/ });
    const extraKey = [...lines];
    extraKey[1] = extraKey[1]!.replace('{"seq":2,', '{"seq":2,"note":"x",');
    expect(verifyRecords(extraKey)).toMatchObject({ ok: false, seq: 2, reason: /canonical/ });
    const escaped = [...lines];
    escaped[1] = escaped[1]!.replace('"Vera Vendor"', '"V\\u0065ra Vendor"');
    expect(verifyRecords(escaped)).toMatchObject({ ok: false, seq: 2, reason: /canonical/ });
  });

  it('refuses broken JSON and a broken prev link', () => {
    const lines = chain(4);
    expect(verifyRecords([lines[0]!, lines[1]!.slice(0, 40)])).toMatchObject({
      ok: false,
      seq: 2,
      reason: /not valid JSON/,
    });
    const relinked = [...lines];
    const r2 = JSON.parse(relinked[2]!);
    relinked[2] = relinked[2]!.replace(r2.prev, 'f'.repeat(64));
    expect(verifyRecords(relinked)).toMatchObject({ ok: false, seq: 3, reason: /prev does not match/ });
  });

  it('bounds the run of records between checkpoints', () => {
    expect(verifyRecords(chain(12), { checkpointEvery: 12 })).toMatchObject({ ok: true });
    expect(verifyRecords(chain(13), { checkpointEvery: 12 })).toMatchObject({
      ok: false,
      seq: 13,
      reason: /without a signed checkpoint/,
    });
  });

  it('checks that a checkpoint covers the record before it and asks for its signature', () => {
    let prev = GENESIS;
    const lines: string[] = [];
    const add = (input: ChainInput) => {
      const { record, line } = sealRecord(prev, input, at);
      lines.push(line);
      prev = record;
    };
    add({ type: 'auth.login', actor });
    const good = { upToSeq: 1, upToHash: prev.hash, keyId: 'k', sig: 'c2ln', every: 5 };
    add({ type: 'audit.checkpoint', actor: { kind: 'system', id: 'gateway' }, data: good });
    const seen: unknown[] = [];
    const ok = verifyRecords(lines, { checkSignature: (cp) => void seen.push(cp) });
    expect(ok).toMatchObject({ ok: true, checkpoints: 1, lastCheckpointSeq: 2 });
    expect(seen).toEqual([good]);
    expect(verifyRecords(lines, { checkSignature: () => 'bad signature' })).toMatchObject({
      ok: false,
      seq: 2,
      reason: 'bad signature',
    });

    const wrong = [
      lines[0]!,
      sealRecord(
        JSON.parse(lines[0]!),
        { type: 'audit.checkpoint', actor, data: { ...good, upToHash: 'a'.repeat(64) } },
        at,
      ).line,
    ];
    expect(verifyRecords(wrong)).toMatchObject({ ok: false, seq: 2, reason: /does not cover/ });
  });
});
