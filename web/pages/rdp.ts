// /rdp/:grantId — the vendor's remote desktop on an approved RDP grant, through guacd: needs a fresh step-up; shows
// the time left, the gateway's notices (window warnings) and, when it ends, why. "Connected" only once the first
// frame is drawn: guacd accepts before the workstation has answered, and a refused or stuck connection would
// otherwise look like a working blank desktop. (Also registers /rdp/watch/:id.)
import { ApiError, api } from '../api.js';
import { clear, h, whenLeft } from '../dom.js';
import { fmtDateTime } from '../format.js';
import { registerPage } from '../router.js';
import { withStepUp } from '../step-up.js';
import { closeText } from '../terminal/socket.js';
import { type DesktopView, mountDesktop } from './rdp-view.js';
import './rdp-watch.js';

interface TokenAnswer {
  token: string;
  sessionId: string;
  endsAt: string;
  target: { id: string; name: string };
}

registerPage({
  path: '/rdp/:grantId',
  title: 'Remote desktop',
  roles: ['vendor'],
  async render({ main, params }) {
    const grantId = params.grantId ?? '';
    const heading = h('h1', {}, 'Remote desktop');
    const status = h('p', { id: 'rdp-status', class: 'muted', role: 'status' }, 'Connecting…');
    const left = h('span', { id: 'rdp-left', class: 'muted' });
    const notice = h('p', { id: 'rdp-notice', class: 'note', role: 'alert', hidden: true });
    const screen = h('div', {
      id: 'rdp-display',
      class: 'rdp-display',
      'aria-label': 'Remote desktop (click to type into it)',
    });
    const cad = h('button', { type: 'button', id: 'rdp-cad', class: 'secondary', disabled: true }, 'Send Ctrl+Alt+Del');
    const leave = h(
      'button',
      { type: 'button', id: 'rdp-disconnect', class: 'secondary', disabled: true },
      'Disconnect',
    );
    main.append(
      h(
        'section',
        { class: 'card rdp-card' },
        heading,
        h('p', {}, status, ' ', left),
        notice,
        h('p', {}, cad, ' ', leave),
        screen,
      ),
    );
    screen.style.width = '100%';
    screen.style.minHeight = '200px';
    screen.style.outline = 'none';
    screen.style.overflow = 'hidden';

    const fail = (text: string) => {
      status.className = 'error';
      status.textContent = text;
    };
    const width = Math.max(320, Math.min(7680, Math.round(screen.clientWidth || 1024)));
    const height = Math.max(
      200,
      Math.min(4320, Math.round(window.innerHeight - screen.getBoundingClientRect().top - 16)),
    );
    const dpi = Math.max(48, Math.min(480, Math.round(96 * (window.devicePixelRatio || 1))));
    let minted: TokenAnswer | undefined;
    try {
      // The server checks the grant and the step-up; a stale step-up is asked for once and the call repeated.
      minted = await withStepUp(() =>
        api<TokenAnswer>('POST', `/api/grants/${encodeURIComponent(grantId)}/rdp-token`, { width, height, dpi }),
      );
    } catch (err) {
      return fail(err instanceof ApiError ? err.message : 'could not open the remote desktop');
    }
    if (!minted) return fail('A verification code is needed to open the remote desktop.');
    const { token } = minted;
    clear(heading, `Remote desktop on ${minted.target.name}`);

    let endsAt = Date.parse(minted.endsAt);
    let lastMessage = '';
    let ended = false;
    let drawn = false;
    let target = minted.target.name;
    let noPicture: number | undefined;
    const timer = window.setInterval(() => {
      const s = Math.max(0, Math.round((endsAt - Date.now()) / 1000));
      left.textContent = ended ? '' : `· ${Math.floor(s / 60)} min ${s % 60} s left (until ${fmtDateTime(endsAt)})`;
    }, 1000);
    let view: DesktopView | undefined;
    view = mountDesktop(screen, `/ws/rdp?token=${encodeURIComponent(token)}`, {
      interactive: true,
      on: {
        gatehouse: (msg) => {
          if (msg.type === 'ready') {
            if (typeof msg.endsAt === 'string') endsAt = Date.parse(msg.endsAt);
            target = `${String(msg.targetName ?? msg.targetId)} · session ${String(msg.sessionId)}`;
            status.textContent = `Connecting to ${target}… waiting for the workstation's first picture`;
            leave.disabled = false;
            // The gateway closes a session without a picture after firstFrameMs and says why; this is the page's
            // own limit in case that word never arrives.
            const limit = (typeof msg.firstFrameMs === 'number' ? msg.firstFrameMs : 30_000) + 10_000;
            noPicture = window.setTimeout(() => {
              if (drawn || ended) return;
              lastMessage ||= `the workstation showed nothing within ${Math.round(limit / 1000)} s (it may be refusing the connection, or not answering)`;
              view?.dispose();
            }, limit);
          } else if (msg.type === 'notice') {
            notice.hidden = false;
            notice.textContent = String(msg.message ?? '');
          } else if (msg.type === 'ended' || msg.type === 'error') lastMessage ||= String(msg.message ?? '');
        },
        drawn: () => {
          drawn = true;
          window.clearTimeout(noPicture);
          status.className = 'ok';
          status.textContent = `Connected to ${target} (recorded)`;
          cad.disabled = false;
          screen.focus();
        },
        error: (text) => {
          lastMessage ||= text;
        },
        closed: (code, reason) => {
          ended = true;
          window.clearInterval(timer);
          window.clearTimeout(noPicture);
          left.textContent = '';
          cad.disabled = true;
          leave.disabled = true;
          status.className = code === 1000 && !lastMessage ? 'muted' : 'error';
          status.textContent = `Disconnected. ${sentence(closeText(code, lastMessage || reason))}`;
        },
      },
    });
    cad.addEventListener('click', () => view?.ctrlAltDel());
    leave.addEventListener('click', () => view?.dispose());
    // Leaving the page ends the session: the router replaces main's content, the socket must not linger.
    whenLeft(main, screen, () => {
      window.clearInterval(timer);
      window.clearTimeout(noPicture);
      view?.dispose();
      view = undefined;
    });
  },
});

/** The gateway's reasons are clauses ("the workstation's certificate …"); the page shows them as sentences. */
const sentence = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);
