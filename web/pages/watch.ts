// /sessions/:id/watch — a supervisor's or auditor's read-only live view of a terminal session, starting from the
// screen the vendor sees now; a supervisor can terminate it with a reason.
import { alertText } from '../alerts.js';
import { api } from '../api.js';
import { h, whenLeft } from '../dom.js';
import type { CommandAlert } from '../live.js';
import { registerPage } from '../router.js';
import type { SessionPageView } from '../session-types.js';
import { closeText, type Control, openTerminalSocket } from '../terminal/socket.js';
import { liveTerminateForm } from '../terminate-form.js';
import { createXterm } from '../terminal/xterm-view.js';
import { plcLivePanel } from '../plc-operations.js';
import { liveHeading } from '../live-heading.js';

registerPage({
  path: '/sessions/:id/watch',
  title: 'Live session',
  roles: ['supervisor', 'auditor', 'admin'],
  render({ me, main, params }) {
    const id = params.id ?? '';
    const status = h('p', { id: 'watch-status', class: 'muted', role: 'status' }, 'Joining…');
    const heading = h('h1', { id: 'watch-heading' }, 'Live session');
    const title = liveHeading(heading, id);
    const screen = h('div', { id: 'watch-terminal', class: 'terminal' });
    const mayTerminate = me.roles.includes('supervisor') || me.roles.includes('admin');
    const form = liveTerminateForm(id, () => {
      // The socket usually closes first and says how the session ended; this only fills the gap.
      if (ws.readyState === WebSocket.OPEN) status.textContent = 'Terminated; closing…';
    });
    // Alerted and blocked commands, newest first, marked the moment the vendor's Enter is judged.
    const alerts = h('ol', { id: 'watch-alerts', class: 'alert-markers', 'aria-live': 'assertive', reversed: true });
    main.append(
      h(
        'section',
        { class: 'card terminal-card' },
        heading,
        status,
        h('p', { class: 'muted' }, 'Read-only: nothing typed here reaches the session.'),
        alerts,
        screen,
        mayTerminate ? form : null,
      ),
    );
    const mark = (a: CommandAlert) => {
      const at = new Date(a.at);
      const time = Number.isNaN(at.getTime()) ? '' : at.toLocaleTimeString('en-GB', { hour12: false });
      alerts.prepend(
        h(
          'li',
          { class: `alert-marker alert-${a.verdict}`, role: 'alert' },
          h('span', { class: 'muted' }, time),
          ' ',
          alertText(a),
        ),
      );
      screen.classList.remove('flash-alerted', 'flash-blocked');
      void screen.offsetWidth; // restarts the flash when two alerts come close together
      screen.classList.add(`flash-${a.verdict}`);
    };
    const plc = plcLivePanel(id, mayTerminate);
    main.append(plc.el);

    const view = createXterm(screen, { readOnly: true });
    // Sizes come from the vendor's client: clamped as the gateway does (1..1000 × 1..500), and a resize that
    // changes nothing is not passed on (xterm.js reflows the whole buffer on every resize).
    const fit = (v: unknown, max: number, fallback: number) => {
      const n = Math.trunc(Number(v));
      return n >= 1 ? Math.min(n, max) : fallback;
    };
    const resize = (cols: unknown, rows: unknown) => {
      const c = fit(cols, 1000, 80);
      const r = fit(rows, 500, 24);
      if (c !== view.term.cols || r !== view.term.rows) view.term.resize(c, r);
    };
    let lastMessage = '';
    const ws = openTerminalSocket(`/ws/monitor/${encodeURIComponent(id)}`, {
      bytes: (b) => view.term.write(b),
      control: (msg: Control) => {
        if (msg.type === 'screen') {
          resize(msg.cols, msg.rows);
          view.term.write(String(msg.data ?? ''));
          title.provisional(String(msg.userName ?? msg.userId), String(msg.targetId));
          status.className = 'ok';
          status.textContent = `Watching session ${id} (this is audited)`;
        } else if (msg.type === 'alert')
          mark({
            ...(msg as unknown as CommandAlert),
            userName: title.vendorName() || 'the vendor',
            targetId: heading.dataset.target ?? '',
          });
        else if (msg.type === 'resize') resize(msg.cols, msg.rows);
        else if (msg.type === 'plc') plc.event(msg);
        else if (msg.type === 'ended') lastMessage = `The session ended (${String(msg.reason)}).`;
        else if (msg.type === 'error') lastMessage = String(msg.message ?? '');
      },
      closed: (code, why) => {
        status.className = code === 1000 ? 'muted' : 'error';
        status.textContent = closeText(code, lastMessage || why);
        form.remove();
        // Who ended it and why, where a person did, and the way to the session's record (and its replay).
        const after = h(
          'p',
          { id: 'watch-after' },
          h('a', { href: `/sessions/${encodeURIComponent(id)}`, 'data-nav': true }, 'Open the session’s record'),
        );
        status.after(after);
        void closedBy(id).then((c) => {
          if (!c || !after.isConnected) return;
          const what = c.action === 'terminated' ? 'Terminated' : 'Access revoked';
          after.prepend(
            h('span', { id: 'watch-closed-by' }, `${what} by ${c.by}${c.reason ? ` — ${c.reason}` : ''}.`),
            ' ',
          );
        });
      },
    });
    whenLeft(main, screen, () => {
      ws.close();
      view.dispose();
    });
  },
});

/**
 * Who ended the session, once its record says it has ended: the viewer's socket can close a moment before the
 * session's end is stored, so a few short tries (bounded), then nothing.
 */
async function closedBy(id: string): Promise<SessionPageView['closedBy']> {
  for (let i = 0; i < 10; i++) {
    const s = await api<SessionPageView>('GET', `/api/sessions/${encodeURIComponent(id)}`).catch(() => undefined);
    if (!s) return null;
    if (s.endedAt) return s.closedBy;
    await new Promise((r) => setTimeout(r, 300));
  }
  return null;
}
