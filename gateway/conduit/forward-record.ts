// One inspected forward's operations: judged by the target's PLC rules, paired with their replies, stored and audited.
import { randomBytes } from 'node:crypto';
import { isoTime } from '../clock.js';
import type { AuditEventType } from '../core/audit.js';
import type { Judgement } from './inspector.js';
import type { PlcProtocol, PlcReply, PlcRequest } from './operation.js';
import type { PlcOperationRecord, PlcOutcome } from './record.js';
import { evaluatePlcOperation, type PlcRulesConfig, refusesOpaque } from './rules.js';

/** Requests awaiting their reply, per forward; beyond this the oldest is recorded without one. */
const MAX_PENDING = 256;

/** What a forward's record needs from its session (see SessionConduit). */
export interface ForwardHost {
  readonly rules: PlcRulesConfig;
  now(): number;
  /** Stores one finished operation. */
  store(record: PlcOperationRecord): void;
  audit(
    type: AuditEventType,
    record: PlcOperationRecord | Omit<PlcOperationRecord, 'result' | 'ok'>,
    extra?: Record<string, unknown>,
  ): void;
  /** Holds `op` for a supervisor: resolves with who decided, or undefined when refused by timeout or the end. */
  confirm(
    op: Omit<PlcOperationRecord, 'result' | 'ok' | 'verdict'>,
    reason: string,
  ): Promise<{ approved: boolean; by?: string }>;
}

type Open = Omit<PlcOperationRecord, 'result' | 'ok'>;

/**
 * Operation ids: a random prefix per forward and a counter. Why not 12 random bytes each as commands have: a
 * poll loop makes thousands of operations a second, and the random source showed in the relay's profile.
 */
function operationIds(): () => string {
  const prefix = `plc_${randomBytes(8).toString('hex')}`;
  let n = 0;
  return () => `${prefix}${(n++).toString(16).padStart(8, '0')}`;
}

export class ForwardRecord {
  private readonly pending = new Map<string, Open>();
  private readonly newOperationId = operationIds();

  constructor(
    private readonly host: ForwardHost,
    private readonly sessionId: string,
    private readonly destination: string,
    private readonly protocol: PlcProtocol,
  ) {}

  judge(request: PlcRequest): Judgement {
    const d = evaluatePlcOperation(this.host.rules, request);
    const { key: _key, protocol: _p, ...seen } = request;
    const base = {
      id: this.newOperationId(),
      sessionId: this.sessionId,
      at: isoTime(this.host.now()),
      destination: this.destination,
      protocol: this.protocol,
      ...seen,
      ...(d.wouldBe !== d.verdict ? { wouldBe: d.wouldBe } : {}),
      ...(d.rule ? { rule: d.rule.reason } : {}),
    };
    if (d.verdict === 'blocked') {
      const record: PlcOperationRecord = { ...base, verdict: 'blocked', result: 'refused by the gateway', ok: false };
      this.host.store(record);
      this.host.audit('plc.blocked', record);
      return { pass: false };
    }
    if (d.verdict === 'held') {
      const held = this.host.confirm(base, d.rule?.reason ?? '').then(({ approved, by }) => {
        const verdict: PlcOutcome = approved ? 'approved' : 'denied';
        const open: Open = { ...base, verdict, ...(by ? { decidedBy: by } : {}) };
        if (approved) this.await(request.key, open);
        else this.host.store({ ...open, result: 'refused by the gateway (not confirmed)', ok: false });
        return approved;
      });
      return { held };
    }
    const open: Open = { ...base, verdict: d.verdict };
    if (d.verdict === 'alerted') this.host.audit('plc.alerted', open);
    this.await(request.key, open);
    return { pass: true };
  }

  reply(reply: PlcReply): void {
    const open = this.pending.get(reply.key);
    if (!open) return; // a reply to nothing we saw (the device's own jobs, a duplicate): nothing to settle
    this.pending.delete(reply.key);
    this.host.store({ ...open, result: reply.result, ok: reply.ok });
  }

  /** The stream could not be read: recorded once, with what happens to the forward. Returns whether to pass it. */
  unparseable(reason: string, from: 'client' | 'device'): boolean {
    const pass = !refusesOpaque(this.host.rules);
    const record: PlcOperationRecord = {
      id: this.newOperationId(),
      sessionId: this.sessionId,
      at: isoTime(this.host.now()),
      destination: this.destination,
      protocol: this.protocol,
      unit: '',
      function: 'unparsed',
      class: 'other',
      verdict: pass ? 'allowed' : 'blocked',
      result: `${from === 'client' ? 'requests' : 'replies'} unreadable: ${reason}; ${pass ? 'relayed as opaque bytes' : 'forward closed'}`,
      ok: pass,
    };
    this.host.store(record);
    this.host.audit('plc.unparsed', record, { from });
    return pass;
  }

  /** The forward ended: requests still waiting are recorded without a reply. */
  end(): void {
    for (const open of this.pending.values())
      this.host.store({ ...open, result: 'no reply (forward closed)', ok: false });
    this.pending.clear();
  }

  private await(key: string, open: Open): void {
    // A key reused while still pending (a client that gave up and retried): the first is settled as unanswered.
    const earlier = this.pending.get(key);
    if (earlier) this.host.store({ ...earlier, result: 'no reply', ok: false });
    this.pending.delete(key);
    if (this.pending.size >= MAX_PENDING) {
      const [oldestKey, oldest] = this.pending.entries().next().value as [string, Open];
      this.pending.delete(oldestKey);
      this.host.store({ ...oldest, result: 'no reply', ok: false });
    }
    this.pending.set(key, open);
  }
}
