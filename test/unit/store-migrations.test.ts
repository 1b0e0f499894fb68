// db.json schema migrations: step order, refusal of newer files, and the real list's target.
import { describe, expect, it } from 'vitest';
import { checkDbShape, COMMANDS_TO_MOVE } from '../../gateway/store/schema.js';
import {
  CURRENT_SCHEMA_VERSION,
  emptyDb,
  type Migration,
  migrate,
  migrations,
  StoreOpenError,
} from '../../gateway/store.js';

const fakeSteps: Migration[] = [
  {
    to: 1,
    up(d) {
      d.users = (d.people as unknown[]) ?? [];
      delete d.people;
    },
  },
  {
    to: 2,
    up(d) {
      for (const u of d.users as Array<Record<string, unknown>>) u.roles ??= ['vendor'];
      (d.trail as string[]).push('v2');
    },
  },
];

describe('migrate', () => {
  it('takes v0 data through v1 to v2 in order, stamping each version', () => {
    const data: Record<string, unknown> = { people: [{ id: 'usr_1' }], trail: [] };
    expect(migrate(data, fakeSteps)).toEqual({ from: 0, to: 2 });
    expect(data).toEqual({ schemaVersion: 2, users: [{ id: 'usr_1', roles: ['vendor'] }], trail: ['v2'] });
  });

  it('runs only the steps above the current version', () => {
    const data: Record<string, unknown> = { schemaVersion: 1, users: [{ id: 'usr_1' }], trail: [] };
    expect(migrate(data, fakeSteps)).toEqual({ from: 1, to: 2 });
    expect(data.trail).toEqual(['v2']);
    expect(migrate(data, fakeSteps)).toEqual({ from: 2, to: 2 });
    expect(data.trail).toEqual(['v2']);
  });

  it('refuses data newer than the code knows, naming the source and both versions', () => {
    const data = { schemaVersion: 3 };
    expect(() => migrate(data, fakeSteps, '/srv/recordings/db.json')).toThrow(StoreOpenError);
    expect(() => migrate(data, fakeSteps, '/srv/recordings/db.json')).toThrow(
      /\/srv\/recordings\/db\.json has schemaVersion 3, but this Gatehouse knows versions up to 2/,
    );
  });

  it('refuses a schemaVersion that is not a version', () => {
    expect(() => migrate({ schemaVersion: '1' }, fakeSteps)).toThrow(/not a version/);
    expect(() => migrate({ schemaVersion: -1 }, fakeSteps)).toThrow(/not a version/);
  });

  it('rejects a step list with a gap instead of skipping a step', () => {
    expect(() => migrate({}, [{ to: 2, up() {} }])).toThrow(/no step from version 0 to 1/);
  });
});

describe('the real schema', () => {
  it('migrations end at CURRENT_SCHEMA_VERSION and are consecutive', () => {
    expect(migrations.at(-1)?.to).toBe(CURRENT_SCHEMA_VERSION);
    expect(migrations.map((m) => m.to)).toEqual(migrations.map((_, i) => i + 1));
  });

  it('emptyDb is at the current version with every collection', () => {
    expect(checkDbShape(emptyDb() as unknown as Record<string, unknown>, 'x')).toEqual({
      schemaVersion: CURRENT_SCHEMA_VERSION,
      users: [],
      sshKeys: [],
      requests: [],
      sessions: [],
      webSessions: [],
      meta: {},
    });
  });

  it('v0 (no schemaVersion) gains the missing collections and keeps what it had', () => {
    const data: Record<string, unknown> = { users: [{ id: 'usr_1' }], meta: { site: 'p3' } };
    migrate(data);
    expect(checkDbShape(data, 'x')).toEqual({ ...emptyDb(), users: [{ id: 'usr_1' }], meta: { site: 'p3' } });
  });

  it('v1 → v2: commands leave the collections and wait in meta for the command log, in order', () => {
    const commands = [
      { id: 'cmd_a', sessionId: 'ses_1', at: '2026-11-23T10:00:00.000Z', text: 'ls', verdict: 'allowed' },
      {
        id: 'cmd_b',
        sessionId: 'ses_1',
        at: '2026-11-23T10:00:01.000Z',
        text: 'rm -rf /',
        verdict: 'blocked',
        rule: 'rm',
      },
    ];
    const data: Record<string, unknown> = { ...emptyDb(), schemaVersion: 1, commands, meta: { site: 'p3' } };
    expect(migrate(data)).toEqual({ from: 1, to: 2 });
    expect(checkDbShape(data, 'x')).toEqual({ ...emptyDb(), meta: { site: 'p3', [COMMANDS_TO_MOVE]: commands } });
    expect('commands' in data).toBe(false);
  });

  it('v1 → v2 without commands leaves nothing to move; a "commands" that is not a list is refused', () => {
    const data: Record<string, unknown> = { ...emptyDb(), schemaVersion: 1, commands: [] };
    migrate(data);
    expect(data).toEqual(emptyDb());
    expect(() => migrate({ ...emptyDb(), schemaVersion: 1, commands: {} })).toThrow(/"commands" is not a list/);
  });

  it('checkDbShape refuses a file that is not ours', () => {
    expect(() => checkDbShape({ schemaVersion: CURRENT_SCHEMA_VERSION, users: {} }, 'db.json')).toThrow(
      /db\.json: "users" is not a list/,
    );
    expect(() => checkDbShape({ ...emptyDb(), meta: [] }, 'db.json')).toThrow(/"meta" is not an object/);
  });
});
