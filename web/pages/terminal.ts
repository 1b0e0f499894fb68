// /connect/:grantId — the vendor's browser terminal on an approved SSH grant: same relay, recording and rules as
// native SSH. Needs a fresh step-up; shows the time left and the gateway's notices (window warnings, blocks).
import { api } from '../api.js';
import { clear, h, whenLeft } from '../dom.js';
import { fmtDateTime } from '../format.js';
import type { RequestView } from '../request-types.js';
import { registerPage } from '../router.js';
import { promptStepUp } from '../step-up.js';
import { closeText, type Control, openTerminalSocket } from '../terminal/socket.js';
import { createXterm } from '../terminal/xterm-view.js';

const freshFor = (until: string | null, ms: number) => until !== null && Date.parse(until) - ms > Date.now();

registerPage({
  path: '/connect/:grantId',
  title: 'Terminal',
  roles: ['vendor'],
  async render({ me, main, params, refreshMe, navigate }) {
    const grantId = params.grantId ?? '';
    const status = h('p', { id: 'term-status', class: 'muted', role: 'status' }, 'Connecting…');
    const left = h('span', { id: 'term-left', class: 'muted' });
    const screen = h('div', { id: 'terminal', class: 'terminal' });
    const heading = h('h1', {}, 'Terminal');
    // After the session ends: start a new one on the same grant, or go back to the request.
    const after = h('p', { id: 'term-after', hidden: true });
    main.append(
      h(
        'section',
        { class: 'card terminal-card' },
        heading,
        h('div', { class: 'term-line' }, status, ' ', left),
        after,
        screen,
      ),
    );

    const { requests } = await api<{ requests: RequestView[] }>('GET', '/api/requests?state=approved').catch(() => ({
      requests: [] as RequestView[],
    }));
    const request = requests.find((r) => r.grantId === grantId && r.requester.id === me.id);
    if (request) clear(heading, `Terminal on ${request.target.name}`);

    let stepped = freshFor(me.stepUpUntil, 5_000);
    if (!stepped) {
      stepped = await promptStepUp('Opening a terminal needs a fresh verification code.');
      if (stepped) await refreshMe();
    }
    if (!stepped) {
      status.className = 'error';
      status.textContent = 'A verification code is needed to open the terminal.';
      return;
    }

    const view = createXterm(screen, { readOnly: false });
    const { term } = view;
    const encoder = new TextEncoder();
    let endsAt: number | undefined;
    let lastMessage = '';
    const showLeft = () => {
      if (!endsAt) return;
      const s = Math.max(0, Math.round((endsAt - Date.now()) / 1000));
      left.textContent = `· ${Math.floor(s / 60)} min ${s % 60} s left (until ${fmtDateTime(endsAt)})`;
    };
    const timer = window.setInterval(showLeft, 1000);
    const ws = openTerminalSocket(`/ws/ssh/${encodeURIComponent(grantId)}?cols=${term.cols}&rows=${term.rows}`, {
      bytes: (b) => term.write(b),
      control: (msg: Control) => {
        if (msg.type === 'ready') {
          endsAt = Date.parse(String(msg.endsAt));
          showLeft();
          status.className = 'ok';
          status.textContent = `Connected to ${String(msg.targetId)} · session ${String(msg.sessionId)} (recorded)`;
          term.focus();
        } else if (msg.type === 'error') lastMessage = String(msg.message ?? '');
        else if (msg.type === 'exit')
          lastMessage = `The shell exited${typeof msg.code === 'number' ? ` with status ${msg.code}` : ''}.`;
      },
      closed: (code, reason) => {
        window.clearInterval(timer);
        status.className = code === 1000 ? 'muted' : 'error';
        status.textContent = `Disconnected. ${closeText(code, lastMessage || reason)}`;
        term.options.disableStdin = true;
        left.textContent = '';
        const back = request ? `/requests/${encodeURIComponent(request.id)}` : '/requests';
        clear(
          after,
          h(
            'button',
            {
              type: 'button',
              id: 'term-reconnect',
              onclick: () => navigate(`/connect/${encodeURIComponent(grantId)}`),
            },
            'Reconnect',
          ),
          ' ',
          h('a', { href: back, 'data-nav': true, class: 'button secondary', id: 'term-back' }, 'Back to the request'),
        );
        after.hidden = false;
      },
    });
    term.onData((d) => ws.readyState === WebSocket.OPEN && ws.send(encoder.encode(d)));
    term.onBinary((d) => ws.readyState === WebSocket.OPEN && ws.send(Uint8Array.from(d, (c) => c.charCodeAt(0))));
    term.onResize(
      ({ cols, rows }) => ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify({ type: 'resize', cols, rows })),
    );
    // Leaving the page ends the session: the socket must not linger behind the next page.
    whenLeft(main, screen, () => {
      ws.close();
      view.dispose();
    });
  },
});
