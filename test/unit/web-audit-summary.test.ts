// The audit trail page's one-line summaries: every event type the gateway writes has its own sentence, and the
// sentences name people and targets from what the page knows.
import { describe, expect, it } from 'vitest';
import { AUDIT_EVENT_TYPES } from '../../gateway/core/audit.js';
import { SUMMARISED_TYPES, summarise } from '../../web/audit-summary.js';

const names = {
  person: (id: string) => ({ usr_v: 'Vera Vendor', usr_s: 'Sam Supervisor' })[id],
  target: (id: string) => ({ 'eng-ws-01': 'Engineering workstation 01' })[id],
};
const sam = { kind: 'user', id: 'usr_s', name: 'Sam Supervisor', email: 'sam@plant.example' } as const;
const subject = { requestId: 'req_1', targetId: 'eng-ws-01', userId: 'usr_v' };

describe('audit summaries', () => {
  it('has a sentence for every event type the gateway writes, and none for types it does not', () => {
    expect([...SUMMARISED_TYPES].sort()).toEqual([...AUDIT_EVENT_TYPES].sort());
  });

  it('says who did what to whose request, with the comment or reason', () => {
    expect(summarise({ type: 'request.approved', actor: sam, subject, data: { comment: 'go ahead' } }, names)).toBe(
      "Sam Supervisor approved Vera Vendor's request for Engineering workstation 01 (eng-ws-01) — go ahead",
    );
    expect(summarise({ type: 'request.denied', actor: sam, subject, data: { reason: 'no ticket' } }, names)).toBe(
      "Sam Supervisor denied Vera Vendor's request for Engineering workstation 01 (eng-ws-01) — no ticket",
    );
    expect(
      summarise(
        { type: 'request.expired', actor: { kind: 'system', id: 'scheduler' }, subject, data: {} },
        { person: () => undefined, target: () => undefined },
      ),
    ).toBe("usr_v's request for eng-ws-01 expired undecided");
    expect(
      summarise(
        {
          type: 'session.ended',
          actor: sam,
          subject: { ...subject, sessionId: 'ses_1' },
          data: { reason: 'window_ended' },
        },
        names,
      ),
    ).toBe("Vera Vendor's session on Engineering workstation 01 (eng-ws-01) ended: access window ended");
    expect(
      summarise(
        {
          type: 'session.ended',
          actor: sam,
          subject: { ...subject, sessionId: 'ses_1' },
          data: { reason: 'window_ended', recordedLate: true, endedAt: '2026-11-23T10:01:05.000Z' },
        },
        names,
      ),
    ).toBe(
      "Vera Vendor's session on Engineering workstation 01 (eng-ws-01) ended: access window ended (recorded late, once storage was back; it ended at 2026-11-23T10:01:05.000Z)",
    );
  });

  it('writes a readable line for every type, even with no subject or data', () => {
    for (const type of AUDIT_EVENT_TYPES) {
      const line = summarise({ type, actor: { kind: 'system', id: 'gateway' } }, names);
      expect(line.length).toBeGreaterThan(10);
      expect(line).not.toContain('undefined');
      expect(line).not.toContain('[object');
    }
  });

  it('keeps hostile text as text and cuts long values', () => {
    const line = summarise(
      {
        type: 'command.alerted',
        actor: sam,
        subject,
        data: { text: `<img src=x onerror=alert(1)>${'a'.repeat(500)}` },
      },
      names,
    );
    expect(line).toContain('<img src=x onerror=alert(1)>');
    expect(line.length).toBeLessThan(260);
  });
});
