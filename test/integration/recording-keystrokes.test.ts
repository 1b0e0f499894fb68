// Keystrokes in terminal recordings are a per-target choice, off by default: with it off no "i" event is written
// (what is typed at a no-echo prompt stays out of evidence), with it on every key is; commands are captured either way.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordsKeystrokes } from '../../gateway/evidence/recordings.js';
import { sessionCells, SESSION_COLUMNS } from '../../gateway/evidence/tables.js';
import { type SshGateway, startSshGateway, TARGET } from '../helpers/ssh-gateway.js';

let h: SshGateway;
beforeAll(async () => {
  h = await startSshGateway();
  await h.grant();
}, 60_000);
afterAll(async () => h?.close());

/** Runs one shell session and returns its stored record and the recording's events once sealed. */
async function shellSession(line: string) {
  const before = new Set(h.gw.store.data.sessions.map((s) => s.id));
  const r = await h.ssh(TARGET, { options: ['-tt'], input: `${line}; exit\n` });
  expect(r.code).toBe(0);
  let rec = h.gw.store.data.sessions.find((s) => !before.has(s.id));
  for (let i = 0; i < 200 && !rec?.recording?.sha256; i++) {
    await new Promise((res) => setTimeout(res, 50));
    rec = h.gw.store.data.sessions.find((s) => !before.has(s.id));
  }
  const lines = (await readFile(join(h.gw.storageDir, rec!.recording!.path), 'utf8')).trim().split('\n');
  const header = JSON.parse(lines[0]!) as { gatehouse: { keystrokes: boolean } };
  const events = lines.slice(1).map((l) => JSON.parse(l) as [number, string, string]);
  const commands = h.gw.commands.records.filter((c) => c.sessionId === rec!.id).map((c) => c.text);
  return { rec: rec!, header, events, commands, stdout: r.stdout };
}

describe('keystrokes in recordings', () => {
  it('off by default: no "i" events, the command is still captured, the pack says so', async () => {
    expect(h.gw.config.targets[0]!.recording.keystrokes).toBe(false);
    const s = await shellSession('echo quiet-$((6*7))');
    expect(s.stdout).toContain('quiet-42');
    expect(s.events.filter((e) => e[1] === 'i')).toEqual([]);
    expect(s.events.some((e) => e[1] === 'o' && e[2].includes('quiet-42'))).toBe(true);
    expect(s.commands).toEqual(['echo quiet-$((6*7)); exit']);
    expect(s.header.gatehouse.keystrokes).toBe(false);
    expect(s.rec.recording?.keystrokes).toBe(false);
    expect(recordsKeystrokes(s.rec)).toBe(false);
    const row = sessionCells({ users: new Map(), targets: [], commandCounts: new Map() } as never, new Map())(s.rec);
    expect(row[SESSION_COLUMNS.indexOf('recording_keystrokes')]).toBe('no');
  });

  it('on where the target opts in: every key is an "i" event, and capture is unchanged', async () => {
    h.gw.config.targets[0]!.recording.keystrokes = true;
    try {
      const s = await shellSession('echo typed-$((6*7))');
      const typed = s.events
        .filter((e) => e[1] === 'i')
        .map((e) => e[2])
        .join('');
      expect(typed).toContain('echo typed-$((6*7))');
      expect(s.commands).toEqual(['echo typed-$((6*7)); exit']);
      expect(s.header.gatehouse.keystrokes).toBe(true);
      expect(recordsKeystrokes(s.rec)).toBe(true);
    } finally {
      h.gw.config.targets[0]!.recording.keystrokes = false;
    }
  });

  it('a recording made before the choice existed (no flag) counts as holding keystrokes', () => {
    expect(recordsKeystrokes({ protocol: 'ssh', recording: { path: 'x.cast' } } as never)).toBe(true);
    expect(recordsKeystrokes({ protocol: 'rdp', recording: { path: 'x.guac' } } as never)).toBe(false);
  });
});
