// A vendor session's PLC conduit: its inspected forwards, the operations held for a supervisor, and what live viewers are told.
import { type Clock, isoTime } from '../clock.js';
import type { AuditEventType } from '../core/audit.js';
import { type Actor, systemActor } from '../core/model.js';
import { ForwardRecord, type ForwardHost } from './forward-record.js';
import type { PlcProtocol } from './operation.js';
import type { PlcOperationRecord } from './record.js';
import type { PlcRulesConfig } from './rules.js';
import type { AuditAppend } from '../core/audit.js';

/** The PLC events (`plc.*`): each carries a PlcData payload. */
export type PlcEventType = Extract<AuditEventType, `plc.${string}`>;

/** What a live viewer is told: operations that alert, are refused or wait for a decision, and decisions. */
export interface PlcLiveEvent {
  type: AuditEventType;
  operation: Omit<PlcOperationRecord, 'result' | 'ok'> & { result?: string };
  /** For plc.held: when the wait ends with a refusal. */
  expiresAt?: string;
}

export type HeldOperation = Omit<PlcOperationRecord, 'result' | 'ok' | 'verdict'> & {
  reason: string;
  expiresAt: string;
};

export interface SessionConduitOptions {
  /** The conduit appends: `plc.*` audit records and, where PLC operations are stored, their log. */
  deps: {
    audit: AuditAppend;
    clock: Clock;
    plc?: { append(record: PlcOperationRecord): Promise<PlcOperationRecord> } | undefined;
  };
  rules: PlcRulesConfig;
  actor: Actor;
  subject: Record<string, unknown>;
  /** Keeps the session's end waiting for this write. */
  later(p: Promise<unknown>): void;
  tell(event: PlcLiveEvent): void;
}

interface Held {
  op: HeldOperation;
  decide(approved: boolean, by?: string): void;
}

export class SessionConduit implements ForwardHost {
  private readonly held = new Map<string, Held>();
  private readonly forwards = new Set<ForwardRecord>();
  private ended = false;

  constructor(private readonly o: SessionConduitOptions) {}

  get rules(): PlcRulesConfig {
    return this.o.rules;
  }

  now(): number {
    return this.o.deps.clock.now();
  }

  /** The record of one new inspected forward; `done` when it closes. */
  forward(destination: string, protocol: PlcProtocol): { record: ForwardRecord; done(): void } {
    const record = new ForwardRecord(this, String(this.o.subject.sessionId), destination, protocol);
    this.forwards.add(record);
    return {
      record,
      done: () => {
        if (!this.forwards.delete(record)) return;
        record.end();
      },
    };
  }

  store(record: PlcOperationRecord): void {
    const log = this.o.deps.plc;
    if (!log) return;
    this.o.later(log.append(record));
  }

  audit(
    type: PlcEventType,
    record: PlcLiveEvent['operation'],
    extra: Record<string, unknown> = {},
    actor = this.o.actor,
  ): void {
    const { id, sessionId: _s, at: _a, verdict, ...data } = record;
    // A held operation has no outcome yet: its record says so by the event, not by a verdict.
    const outcome = type === 'plc.held' ? {} : { verdict };
    this.o.later(
      this.o.deps.audit.append({
        type,
        actor,
        subject: { ...this.o.subject, plcOperationId: id },
        data: { ...data, ...outcome, mode: this.o.rules.mode, ...extra },
      }),
    );
    this.o.tell({
      type,
      operation: record,
      ...(typeof extra.expiresAt === 'string' ? { expiresAt: extra.expiresAt } : {}),
    });
  }

  confirm(
    op: HeldOperation | Omit<HeldOperation, 'reason' | 'expiresAt'>,
    reason: string,
  ): Promise<{ approved: boolean; by?: string }> {
    if (this.ended) return Promise.resolve({ approved: false });
    const expiresAt = isoTime(this.now() + (this.o.rules.confirmSeconds ?? 120) * 1000);
    const heldOp: HeldOperation = { ...op, reason, expiresAt };
    return new Promise((resolve) => {
      // A real timer, not the injected clock: the wait is the vendor's tool blocking on a socket.
      const timer = setTimeout(() => this.timedOut(op.id), (this.o.rules.confirmSeconds ?? 120) * 1000);
      timer.unref();
      const entry: Held = {
        op: heldOp,
        decide: (approved, by) => {
          if (!this.held.delete(op.id)) return;
          clearTimeout(timer);
          resolve({ approved, ...(by ? { by } : {}) });
        },
      };
      this.held.set(op.id, entry);
      this.audit('plc.held', { ...op, verdict: 'allowed' }, { reason, expiresAt });
    });
  }

  /** Operations waiting for a supervisor now. */
  pending(): HeldOperation[] {
    return [...this.held.values()].map((h) => h.op);
  }

  /** A supervisor's decision (the route checked who may decide); false if the operation is no longer held. */
  decide(id: string, approved: boolean, actor: Actor): boolean {
    const h = this.held.get(id);
    if (!h) return false;
    this.audit(
      approved ? 'plc.approved' : 'plc.denied',
      { ...h.op, verdict: approved ? 'approved' : 'denied' },
      { decided: 'supervisor' },
      actor,
    );
    h.decide(approved, 'id' in actor ? actor.id : undefined);
    return true;
  }

  /** The session ended: every held operation is refused (audited), every forward's open requests recorded. */
  end(): void {
    this.ended = true;
    for (const h of [...this.held.values()]) {
      this.audit('plc.denied', { ...h.op, verdict: 'denied' }, { decided: 'session_ended' }, systemActor());
      h.decide(false);
    }
    for (const f of this.forwards) f.end();
    this.forwards.clear();
  }

  /** The wait timed out: refused and audited as the gateway's decision. */
  timedOut(id: string): void {
    const h = this.held.get(id);
    if (!h) return;
    this.audit('plc.denied', { ...h.op, verdict: 'denied' }, { decided: 'timeout' }, systemActor());
    h.decide(false);
  }
}
