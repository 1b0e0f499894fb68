// /rdp/watch/:sessionId — a supervisor's or auditor's read-only live view of a vendor's remote desktop (guacd
// joins them read-only; nothing they do reaches the session); a supervisor can terminate it with a reason.
import { ApiError, api } from '../api.js';
import { h, whenLeft } from '../dom.js';
import { registerPage } from '../router.js';
import { closeText } from '../terminal/socket.js';
import { liveTerminateForm } from '../terminate-form.js';
import { type DesktopView, mountDesktop } from './rdp-view.js';
import { liveHeading } from '../live-heading.js';

registerPage({
  path: '/rdp/watch/:sessionId',
  title: 'Live remote desktop',
  roles: ['supervisor', 'auditor', 'admin'],
  async render({ me, main, params }) {
    const id = params.sessionId ?? '';
    const heading = h('h1', { id: 'rdp-watch-heading' }, 'Live remote desktop');
    const title = liveHeading(heading, id);
    const status = h('p', { id: 'rdp-watch-status', class: 'muted', role: 'status' }, 'Joining…');
    const screen = h('div', { id: 'rdp-watch-display', class: 'rdp-display' });
    screen.style.width = '100%';
    screen.style.overflow = 'hidden';
    const mayTerminate = me.roles.includes('supervisor') || me.roles.includes('admin');
    let ended = false;
    const form = liveTerminateForm(id, () => {
      // The view usually ends first and already says why.
      if (!ended) status.textContent = 'Terminated.';
    });
    main.append(
      h(
        'section',
        { class: 'card rdp-card' },
        heading,
        status,
        h('p', { class: 'muted' }, 'Read-only: nothing done here reaches the session.'),
        screen,
        mayTerminate ? form : null,
      ),
    );

    let minted: { token: string; targetId: string; userId: string };
    try {
      const width = Math.max(320, Math.min(7680, Math.round(screen.clientWidth || 1024)));
      minted = await api('POST', `/api/sessions/${encodeURIComponent(id)}/rdp-watch-token`, {
        width,
        height: Math.round((width * 9) / 16),
        dpi: 96,
      });
    } catch (err) {
      status.className = 'error';
      status.textContent = err instanceof ApiError ? err.message : 'could not join the session';
      form.remove();
      return;
    }
    let lastMessage = '';
    let view: DesktopView | undefined = mountDesktop(screen, `/ws/rdp?token=${encodeURIComponent(minted.token)}`, {
      interactive: false,
      on: {
        gatehouse: (msg) => {
          if (msg.type === 'ready') {
            title.provisional(String(msg.userId), String(msg.targetId));
            status.textContent = `Joining session ${id}… waiting for the first picture (this is audited)`;
          } else if (msg.type === 'ended' || msg.type === 'error') lastMessage ||= String(msg.message ?? '');
        },
        drawn: () => {
          status.className = 'ok';
          status.textContent = `Watching session ${id} (this is audited)`;
        },
        error: (text) => {
          lastMessage ||= text;
        },
        closed: (code, why) => {
          ended = true;
          status.className = code === 1000 ? 'muted' : 'error';
          status.textContent = closeText(code, lastMessage || why);
          form.remove();
        },
      },
    });
    whenLeft(main, screen, () => {
      view?.dispose();
      view = undefined;
    });
  },
});
