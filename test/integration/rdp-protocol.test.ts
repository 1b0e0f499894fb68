// The Guacamole wire format under hostile and awkward input (gateway/guac/wire.ts), guacd's stream split anywhere
// (mid-instruction, mid-UTF-8 character) over a real socket, and crash recovery of a torn .guac recording.
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../../gateway/audit-log.js';
import { ManualClock } from '../../gateway/clock.js';
import type { SessionRecord } from '../../gateway/core/model.js';
import { silentLogger } from '../../gateway/log.js';
import { dialGuacd, GuacdLink } from '../../gateway/rdp/guacd.js';
import { codepointLength, encodeInstruction, parseInstructions } from '../../gateway/guac/wire.js';
import { recordingPath } from '../../gateway/recording/files.js';
import { recoverInterruptedSessions } from '../../gateway/recording/recovery.js';
import { Store } from '../../gateway/store.js';
import { enc } from '../helpers/guacd-standin.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';

describe('wire format', () => {
  it('encodes lengths in codepoints and parses back what it encoded', () => {
    const args = ['plain', 'Grüße', '🏭 line 2', '', 'a,b;c.d'];
    const text = encodeInstruction('name', ...args);
    expect(text).toBe(`4.name,5.plain,5.Grüße,8.🏭 line 2,0.,7.a,b;c.d;`);
    expect(codepointLength('🏭')).toBe(1);
    const sync = encodeInstruction('sync', 42);
    const r = parseInstructions(text + sync);
    expect(r).toEqual({
      ok: true,
      consumed: text.length + sync.length,
      instructions: [
        { opcode: 'name', args },
        { opcode: 'sync', args: ['42'] },
      ],
    });
  });

  it('leaves an incomplete tail for later, at any cut', () => {
    const text = enc('size', 0, 1024, 768) + enc('name', 'Grüße 🏭');
    for (let cut = 0; cut < text.length; cut++) {
      const r = parseInstructions(text.slice(0, cut));
      expect(r.ok).toBe(true);
      if (!r.ok) continue;
      const first = enc('size', 0, 1024, 768).length;
      expect(r.consumed).toBe(cut >= first ? first : 0);
    }
  });

  it('refuses what can never be an instruction, without throwing', () => {
    for (const bad of [
      'x.abc;',
      '4.sync,1.1!',
      '-1.a;',
      '99999999.a',
      '1.a,1.b,1.c?',
      `${'9'.repeat(20)}.`,
      '.abc;',
      'abcdefghijklmnop',
    ]) {
      const r = parseInstructions(bad);
      expect(r.ok, bad).toBe(false);
    }
    expect(parseInstructions('300000.').ok).toBe(false); // longer than any instruction may be
    expect(parseInstructions(`3.nop${',0.'.repeat(600)};`).ok).toBe(false); // too many elements
  });
});

describe('guacd link', () => {
  const servers: Array<{ close(): void }> = [];
  afterEach(() => {
    for (const s of servers.splice(0)) s.close();
  });

  /** A peer that answers the handshake, then writes `tail` split into single bytes. */
  async function peer(tail: Buffer): Promise<number> {
    const server = createServer((s: Socket) => {
      s.once('data', () => {
        s.write(enc('args', 'VERSION_1_5_0', 'hostname'));
        s.once('data', async () => {
          s.write(enc('ready', '$abc'));
          for (const b of tail) {
            s.write(Buffer.from([b]));
            await new Promise((r) => setImmediate(r));
          }
        });
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    servers.push(server);
    return (server.address() as { port: number }).port;
  }

  it('reassembles instructions split mid-element and mid-character', async () => {
    const tail = Buffer.from(enc('name', 'Grüße aus der Halle 🏭') + enc('sync', 7));
    const port = await peer(tail);
    const link = new GuacdLink(await dialGuacd({ host: '127.0.0.1', port }), { idleMs: 5000 });
    const hs = await link.handshake('rdp', { hostname: 'h' }, { width: 800, height: 600, dpi: 96 }, 5000);
    expect(hs).toEqual({ connectionId: '$abc', version: 'VERSION_1_5_0', argNames: ['hostname'] });
    const got: Array<{ opcode: string; args: string[] }> = [];
    let text = '';
    link.onFrames((t, ins) => {
      text += t;
      got.push(...ins);
    });
    await new Promise<void>((resolve, reject) => {
      const end = Date.now() + 5000;
      const tick = () =>
        got.length >= 2 ? resolve() : Date.now() > end ? reject(new Error('timeout')) : setTimeout(tick, 10);
      tick();
    });
    expect(got).toEqual([
      { opcode: 'name', args: ['Grüße aus der Halle 🏭'] },
      { opcode: 'sync', args: ['7'] },
    ]);
    expect(text).toBe(tail.toString('utf8'));
    link.close();
  });

  it('a peer that talks nonsense ends the link with a protocol error, not an exception', async () => {
    const port = await peer(Buffer.from('5.hello,x.y;'));
    const link = new GuacdLink(await dialGuacd({ host: '127.0.0.1', port }), { idleMs: 5000 });
    await link.handshake('rdp', {}, { width: 800, height: 600, dpi: 96 }, 5000);
    const ended = await new Promise((r) => link.onEnd(r));
    expect(ended).toMatchObject({ kind: 'protocol' });
  });

  it('nothing listening: a clear error', async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    await new Promise<void>((r) => server.close(() => r()));
    await expect(dialGuacd({ host: '127.0.0.1', port }, 2000)).rejects.toMatchObject({
      code: 'guacd_unreachable',
      message: expect.stringMatching(/refused/),
    });
  });
});

describe('crash recovery of a .guac recording', () => {
  let dir: TempDir | undefined;
  afterEach(async () => dir?.remove());

  it('cuts a torn recording back to its last whole instruction, seals it incomplete, ends the session as crashed', async () => {
    dir = await tempDir('gh-rdp-recover-');
    const storageDir = join(dir.path, 'storage');
    const clock = new ManualClock();
    const store = await Store.open({ dir: storageDir, logger: silentLogger });
    const audit = await AuditLog.open({ dir: storageDir, clock, logger: silentLogger });
    await store.attachAudit(audit);
    const path = recordingPath(storageDir, 'ses_torndesktop1', clock.now() - 60_000, 'guac');
    await mkdir(dirname(path), { recursive: true });
    const whole = enc('size', 0, 1024, 768) + enc('cfill', 14, 0, 1, 2, 3, 255) + enc('sync', 1000);
    await writeFile(path, `${whole}4.sync,4.20`);
    const record: SessionRecord = {
      id: 'ses_torndesktop1',
      grantId: 'grt_1',
      requestId: 'req_1',
      userId: 'usr_1',
      targetId: 'eng-ws-01',
      protocol: 'rdp',
      via: 'rdp',
      startedAt: new Date(clock.now() - 60_000).toISOString(),
      recording: { path: path.slice(storageDir.length + 1) },
    };
    await store.update((d) => void d.sessions.push(record));
    const out = await recoverInterruptedSessions({ store, audit, clock, logger: silentLogger, storageDir });
    expect(out).toEqual([
      {
        sessionId: 'ses_torndesktop1',
        recording: {
          status: 'repaired',
          sha256: createHash('sha256').update(whole).digest('hex'),
          bytes: whole.length,
          droppedBytes: 11,
        },
      },
    ]);
    expect(await readFile(path, 'utf8')).toBe(whole);
    expect(store.data.sessions[0]).toMatchObject({
      endReason: 'gateway_crashed',
      recording: { incomplete: true, bytes: whole.length },
    });
    await audit.close();
    await store.close();
  });
});
