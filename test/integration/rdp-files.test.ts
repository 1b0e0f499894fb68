// Files and clipboard contents across an RDP session (drive redirection and clipboard enabled on the target): each
// Guacamole file stream, upload or download, is audited with name, size and SHA-256, each clipboard content with
// mimetype, size and SHA-256 — against the Guacamole-protocol stand-in.
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enc, type GuacdStandin } from '../helpers/guacd-standin.js';
import { MAX_OPEN_STREAMS } from '../../gateway/rdp/file-streams.js';
import { type Person, type RdpWorld, type StandinWorld, startStandinWorld } from './rdp-fixture.js';

let standin: GuacdStandin;
let w: RdpWorld;
let vendor: Person;
let world: StandinWorld | undefined;

beforeAll(async () => {
  world = await startStandinWorld({ drive: true, clipboard: true });
  ({ standin, w, vendor } = world);
}, 60_000);
afterAll(() => world?.close());

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('files over RDP', () => {
  it('audits an upload and a download with their SHA-256, and an upload cut off by the end without one', async () => {
    const g = await w.grant(vendor);
    const t = await w.token(vendor, g.grantId);
    const c = w.open(vendor, `/ws/rdp?token=${String(t.json.token)}`);
    const sessionId = String((await c.message('ready')).sessionId);
    const conn = await standin.waitFor('the connection', () =>
      standin.connections.find((x) => x.owner.params['recording-name'] === `${sessionId}.guac`),
    );
    expect(conn.owner.params['enable-drive']).toBe('true');

    // Upload: a dropped file, in two blobs (base64 as guacamole-common-js sends it).
    const up = randomBytes(70_000);
    c.send('file', 5, 'application/octet-stream', 'PLC/recipe.s7p');
    c.send('blob', 5, up.subarray(0, 40_000).toString('base64'));
    c.send('blob', 5, up.subarray(40_000).toString('base64'));
    c.send('end', 5);
    // An upload into the drive that never ends (the session closes first).
    c.send('put', 0, 9, 'text/plain', '/notes.txt');
    c.send('blob', 9, Buffer.from('half a note').toString('base64'));
    await standin.waitFor(
      'the upload at guacd',
      () => conn.owner.received.filter((i) => i.opcode === 'blob').length === 3,
    );

    // Download: a drive file the browser asked for, streamed back by guacd.
    const down = randomBytes(12_345);
    standin.broadcast(
      conn.id,
      enc('body', 0, 7, 'text/csv', '/Download/report.csv') + enc('blob', 7, down.toString('base64')) + enc('end', 7),
    );
    await c.instruction('end', (i) => i.args[0] === '7');

    c.ws.close();
    await w.waitAudit('session.ended', (a) => a.subject?.sessionId === sessionId);
    const files = (await w.audit())
      .filter((a) => a.type === 'file.transferred' && a.subject?.sessionId === sessionId)
      .map((a) => a.data);
    expect(files).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          name: 'PLC/recipe.s7p',
          direction: 'upload',
          size: up.length,
          sha256: sha(up),
          closed: true,
          via: 'rdp',
        }),
        expect.objectContaining({
          name: '/Download/report.csv',
          direction: 'download',
          size: down.length,
          sha256: sha(down),
          closed: true,
        }),
        expect.objectContaining({ name: '/notes.txt', direction: 'upload', size: 11, closed: false }),
      ]),
    );
    expect(files).toHaveLength(3);
    expect(files.find((f) => f?.name === '/notes.txt')?.sha256).toBeUndefined();
  });

  it('audits clipboard contents both ways by mimetype, size and SHA-256 (never the text), apart from files', async () => {
    const g = await w.grant(vendor);
    const t = await w.token(vendor, g.grantId);
    const c = w.open(vendor, `/ws/rdp?token=${String(t.json.token)}`);
    const sessionId = String((await c.message('ready')).sessionId);
    const conn = await standin.waitFor('the connection', () =>
      standin.connections.find((x) => x.owner.params['recording-name'] === `${sessionId}.guac`),
    );
    expect(conn.owner.params['disable-copy']).toBe('false');

    const pasted = Buffer.from('S7-Passwort-für-Linie-2');
    c.send('clipboard', 3, 'text/plain');
    c.send('blob', 3, pasted.toString('base64'));
    c.send('end', 3);
    await standin.waitFor('the paste at guacd', () => conn.owner.received.some((i) => i.opcode === 'end'));
    const copied = Buffer.from('copied from the workstation');
    standin.broadcast(
      conn.id,
      enc('clipboard', 6, 'text/plain') + enc('blob', 6, copied.toString('base64')) + enc('end', 6),
    );
    await c.instruction('end', (i) => i.args[0] === '6');

    c.ws.close();
    await w.waitAudit('session.ended', (a) => a.subject?.sessionId === sessionId);
    const log = await w.audit();
    const clips = log
      .filter((a) => a.type === 'clipboard.transferred' && a.subject?.sessionId === sessionId)
      .map((a) => a.data);
    expect(clips).toEqual([
      { direction: 'upload', mimetype: 'text/plain', size: pasted.length, sha256: sha(pasted), via: 'rdp' },
      { direction: 'download', mimetype: 'text/plain', size: copied.length, sha256: sha(copied), via: 'rdp' },
    ]);
    expect(log.filter((a) => a.type === 'file.transferred' && a.subject?.sessionId === sessionId)).toEqual([]);
    expect(JSON.stringify(log)).not.toContain('Passwort');
  });

  it('more file streams at once than can be audited: the session is closed (fail closed), the page told why', async () => {
    const g = await w.grant(vendor);
    const t = await w.token(vendor, g.grantId);
    const c = w.open(vendor, `/ws/rdp?token=${String(t.json.token)}`);
    const sessionId = String((await c.message('ready')).sessionId);
    for (let i = 0; i <= MAX_OPEN_STREAMS; i++) c.send('file', 100 + i, 'application/octet-stream', `dummy-${i}`);
    const ended = await c.message('ended');
    expect(String(ended.message)).toContain(`more than ${MAX_OPEN_STREAMS} file transfers at once cannot be audited`);
    const audited = await w.waitAudit('session.ended', (a) => a.subject?.sessionId === sessionId);
    expect(audited.data).toMatchObject({ reason: 'error', fileStreamsNotAudited: 1 });
  });
});
