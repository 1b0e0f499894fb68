// Command alerts wherever an overseer is: a count in the navigation and a notice on top of the open page, each
// naming the vendor, the target, the command and the rule's reason, with a link to watch the session live.
import type { Me } from './api.js';
import { h } from './dom.js';
import { type CommandAlert, live } from './live.js';

/** What an alert says, in one line (also the live view's marker). */
export const alertText = (a: CommandAlert): string =>
  `${a.verdict === 'blocked' ? 'Blocked' : 'Alert'}: ${a.userName} on ${a.targetId} ran “${a.text}”${a.reason ? ` (${a.reason})` : ''}`;

const overseer = (me: Me) => me.roles.some((r) => r === 'supervisor' || r === 'auditor' || r === 'admin');

let unseen = 0;

/** Starts listening once per page load; the badge and notices live in the header, outside the routed page. */
export function listenForAlerts(me: Me, header: HTMLElement): void {
  if (!overseer(me) || header.querySelector('#alert-center')) return;
  const badge = h('a', {
    id: 'alert-badge',
    href: '/sessions?live=true',
    'data-nav': true,
    hidden: true,
    title: 'Command alerts since this page opened',
  });
  const list = h('div', { id: 'alert-notices', role: 'alert', 'aria-live': 'assertive' });
  header.append(h('div', { id: 'alert-center' }, badge), list);
  badge.addEventListener('click', () => {
    unseen = 0;
    badge.hidden = true;
  });
  live(header, {
    onAlert(a) {
      unseen++;
      badge.hidden = false;
      badge.textContent = `⚠ ${unseen} alert${unseen === 1 ? '' : 's'}`;
      const close = h('button', { type: 'button', class: 'link dismiss', 'aria-label': 'Dismiss' }, '×');
      const notice = h(
        'p',
        { class: `alert-notice alert-${a.verdict}` },
        h('span', {}, alertText(a)),
        ' ',
        h('a', { href: `/sessions/${encodeURIComponent(a.sessionId)}/watch`, 'data-nav': true }, 'Watch live'),
        ' ',
        close,
      );
      close.addEventListener('click', () => notice.remove());
      list.prepend(notice);
      while (list.children.length > 3) list.lastElementChild?.remove();
    },
  });
}
