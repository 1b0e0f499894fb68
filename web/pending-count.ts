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

/**
 * Keeps the set of requests waiting for `me` live on `el` (loaded now and at every reconnect, then followed
 * change by change) and calls `paint` with its size after each change.
 */
export function followPending(
  me: Me,
  el: HTMLElement,
  paint: (n: number) => void,
  failed: () => void = () => undefined,
) {
  const pending = new Set<string>();
  const reload = () =>
    void loadPending(me)
      .then((rs) => {
        pending.clear();
        for (const r of rs) pending.add(r.id);
        paint(pending.size);
      })
      .catch(failed);
  live(el, {
    onChange({ request }) {
      if (request.state === 'pending' && request.requester.id !== me.id) pending.add(request.id);
      else pending.delete(request.id);
      paint(pending.size);
    },
    onOpen: reload,
  });
  reload();
}

let lastCount = 0;

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
  const paint = (n: number) => {
    lastCount = n;
    badge.textContent = String(n);
    badge.hidden = n === 0;
  };
  // The navigation is re-rendered on every page: show the last count at once, then the fresh one.
  paint(lastCount);
  followPending(me, badge, paint);
}
