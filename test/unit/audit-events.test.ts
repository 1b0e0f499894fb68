// Each audit event's data shape: a writer's wrong field fails to compile (the @ts-expect-error lines below fail
// `tsc -p tsconfig.test.json` the day they stop being errors), and readers get typed fields from stored records.
import { describe, expect, it } from 'vitest';
import { type AuditInput, dataOf } from '../../gateway/core/audit.js';
import { systemActor } from '../../gateway/core/model.js';

const actor = systemActor();

describe('audit event shapes', () => {
  it('refuse, at compile time, data that does not fit the event type', () => {
    const good: AuditInput[] = [
      { type: 'gateway.stopped', actor, data: { reason: 'SIGTERM' } },
      { type: 'session.ended', actor, data: { reason: 'revoked', durationMs: 5, via: 'rdp' } },
      { type: 'access.denied', actor, data: { code: 'forbidden', status: 403, method: 'GET', path: '/api/x' } },
    ];
    const bad: AuditInput[] = [
      // @ts-expect-error -- a typo in a field name
      { type: 'gateway.stopped', actor, data: { raeson: 'SIGTERM' } },
      // @ts-expect-error -- not an end reason
      { type: 'session.ended', actor, data: { reason: 'bored' } },
      // @ts-expect-error -- recording.sealed needs its hash and size
      { type: 'recording.sealed', actor, data: { incomplete: false } },
      // @ts-expect-error -- access.denied always names its error code
      { type: 'access.denied', actor, data: { status: 403 } },
      // @ts-expect-error -- an event type that does not exist
      { type: 'session.exploded', actor },
    ];
    expect(good).toHaveLength(3);
    expect(bad).toHaveLength(5);
  });

  it('read a stored record by field, only for its own type', () => {
    const line = {
      type: 'session.ended',
      data: { reason: 'terminated', message: 'Sam terminated this session: maintenance over' },
    };
    const ended = dataOf(line, 'session.ended');
    expect(ended?.reason).toBe('terminated');
    expect(ended?.message).toMatch(/^Sam terminated/);
    expect(dataOf(line, 'session.started')).toBeUndefined();
    // A record written without data (or by an older gateway with fewer fields) reads as empty, not as a crash.
    expect(dataOf({ type: 'grant.revoked' }, 'grant.revoked')).toEqual({});
  });
});
