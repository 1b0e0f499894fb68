// The live-session registry the broker and scheduler close sessions through: bounded closes, no late registrations.
import { describe, expect, it } from 'vitest';
import type { SessionEndReason } from '../../gateway/core/model.js';
import { type LiveSession, LiveSessions } from '../../gateway/sessions.js';

function live(id: string, grantId: string, close: LiveSession['close'] = async () => {}): LiveSession {
  return { id, grantId, userId: 'usr_v', targetId: 'eng-ws-01', protocol: 'ssh', startedAt: 'x', close };
}

describe('LiveSessions', () => {
  it('closes every session of a grant once, with the reason and a default message', async () => {
    const reg = new LiveSessions();
    const calls: string[] = [];
    const rec = (id: string) => async (reason: SessionEndReason, message: string) => {
      calls.push(`${id}:${reason}:${message}`);
    };
    reg.register(live('ses_a', 'grt_1', rec('a')));
    reg.register(live('ses_b', 'grt_1', rec('b')));
    reg.register(live('ses_c', 'grt_2', rec('c')));
    const [n, again] = await Promise.all([
      reg.closeForGrant('grt_1', 'revoked'),
      reg.closeForGrant('grt_1', 'revoked'),
    ]);
    expect(n + again).toBe(2);
    expect(calls.sort()).toEqual([
      'a:revoked:your access has been revoked by a supervisor',
      'b:revoked:your access has been revoked by a supervisor',
    ]);
    expect(reg.list().map((s) => s.id)).toEqual(['ses_c']);
    expect(await reg.close('ses_c', 'terminated', 'bye')).toBe(true);
    expect(await reg.close('ses_c', 'terminated')).toBe(false);
  });

  it('refuses to register a session for a grant already revoked or ended, or an id twice', async () => {
    const reg = new LiveSessions();
    await reg.closeForGrant('grt_gone', 'revoked');
    await reg.closeForGrant('grt_over', 'window_ended');
    expect(() => reg.register(live('ses_1', 'grt_gone'))).toThrow(/withdrawn/);
    expect(() => reg.register(live('ses_2', 'grt_over'))).toThrow(/ended/);
    // A terminate of one session does not close its grant.
    reg.register(live('ses_3', 'grt_ok'));
    await reg.close('ses_3', 'terminated');
    const off = reg.register(live('ses_4', 'grt_ok'));
    expect(() => reg.register(live('ses_4', 'grt_ok'))).toThrow(/already live/);
    off();
    expect(reg.list()).toEqual([]);
  });

  it('does not wait for ever on a session whose close hangs or throws', async () => {
    const reg = new LiveSessions({ closeTimeoutMs: 50 });
    reg.register(live('ses_hang', 'grt_1', () => new Promise(() => {})));
    reg.register(
      live('ses_throw', 'grt_1', async () => {
        throw new Error('socket gone');
      }),
    );
    const t = performance.now();
    expect(await reg.closeForGrant('grt_1', 'revoked')).toBe(2);
    expect(performance.now() - t).toBeLessThan(500);
    expect(reg.list()).toEqual([]);
  });

  it('remembers a bounded number of closed grants', async () => {
    const reg = new LiveSessions({ rememberClosedGrants: 2 });
    for (const g of ['grt_a', 'grt_b', 'grt_c']) await reg.closeForGrant(g, 'revoked');
    expect(() => reg.register(live('ses_1', 'grt_a'))).not.toThrow(); // forgotten: the oldest
    expect(() => reg.register(live('ses_2', 'grt_c'))).toThrow();
  });
});
