// The number of requests waiting for this supervisor's decision, beside "Approvals" in the navigation, kept live.
import { api, type Me } from './api.js';
import { h } from './dom.js';
import { live } from './live.js';
import type { RequestView } from './request-types.js';

const decides = (me: Me) => me.roles.includes('supervisor') || me.roles.includes('admin');

/** Pending requests this user may decide (not their own): what the count shows. */
export async function loadPending(me: Me): Promise<RequestView[]> {
  const { requests } = await api<{ requests: RequestView[] }>('GET', '/api/requests?state=pending');
  return requests.filter((r) => r.requester.id !== me.id);
}

let pending = new Set<string>();

/** Adds the count to the Approvals link (re-rendered with the navigation) and follows request changes. */
export function showPendingCount(me: Me, nav: HTMLElement): void {
  if (!decides(me)) return;
  const link = nav.querySelector('a[href="/approvals"]');
  if (!link) return;
  const badge = h('span', {
    id: 'pending-count',
    class: 'count',
    hidden: true,
    'aria-label': 'waiting for a decision',
  });
  link.append(' ', badge);
  const paint = () => {
    badge.textContent = String(pending.size);
    badge.hidden = pending.size === 0;
  };
  paint();
  const reload = () =>
    void loadPending(me)
      .then((rs) => {
        pending = new Set(rs.map((r) => r.id));
        paint();
      })
      .catch(() => undefined);
  live(badge, {
    onChange({ request }) {
      if (request.state === 'pending' && request.requester.id !== me.id) pending.add(request.id);
      else pending.delete(request.id);
      paint();
    },
    onOpen: reload,
  });
  reload();
}
