// Supervisor page: the queue of pending requests with their full context, approve/deny, and active grants with revoke.
import { ApiError, api, type Me } from '../api.js';
import { clear, h } from '../dom.js';
import { fmtSpan } from '../format.js';
import { every, live } from '../live.js';
import { actionBar, contextList, formStateOf, stateBadge } from '../request-ui.js';
import type { RequestView } from '../request-types.js';
import { registerPage } from '../router.js';

const isOpenGrant = (r: RequestView, now = Date.now()) => r.state === 'approved' && Date.parse(r.endsAt) > now;

function intro(me: Me): string {
  const decides = me.roles.includes('supervisor') || me.roles.includes('admin');
  return decides
    ? 'Requests for the targets you approve. Approving, denying and revoking ask for a fresh verification code.'
    : 'Read-only: you see every request, but decisions are for the targets’ approvers.';
}

registerPage({
  path: '/approvals',
  title: 'Approvals',
  roles: ['supervisor', 'admin', 'auditor'],
  nav: true,
  async render({ me, main }) {
    const queue = h('div', { id: 'queue-list' });
    const grants = h('tbody', { id: 'grants-body' });
    const queueEmpty = h(
      'p',
      { class: 'muted', id: 'queue-empty', hidden: true },
      'Nothing is waiting for a decision.',
    );
    const grantsEmpty = h('p', { class: 'muted', id: 'grants-empty', hidden: true }, 'No grant is active or upcoming.');
    const error = h('p', { class: 'error', role: 'alert', id: 'approvals-error' });
    const root = h(
      'div',
      { id: 'approvals' },
      h(
        'section',
        { class: 'card', id: 'queue' },
        h('h1', {}, 'Waiting for a decision'),
        h('p', { class: 'muted' }, intro(me)),
        error,
        queueEmpty,
        queue,
      ),
      h(
        'section',
        { class: 'card', id: 'grants' },
        h('h2', {}, 'Active grants'),
        grantsEmpty,
        h(
          'table',
          { id: 'grants-table' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ...['Vendor', 'Target', 'Window', 'Purpose', 'Status', ''].map((c) => h('th', { scope: 'col' }, c)),
            ),
          ),
          grants,
        ),
      ),
    );
    main.append(root);
    const views = new Map<string, RequestView>();

    const queueCard = (r: RequestView, keep = formStateOf(document.getElementById(`appr-${r.id}`))) =>
      h(
        'article',
        { class: `request${r.emergency ? ' emergency' : ''}`, id: `appr-${r.id}`, 'data-state': r.state },
        h(
          'h3',
          {},
          `${r.requester.name} (${r.requester.org}) → ${r.target.name}`,
          ' ',
          r.emergency ? h('span', { class: 'state state-emergency' }, 'emergency') : null,
        ),
        contextList(r),
        h(
          'p',
          {},
          stateBadge(r, `appr-state-${r.id}`),
          ' ',
          h('a', { href: `/requests/${r.id}`, 'data-nav': true }, 'Details'),
        ),
        actionBar(r, upsert, keep),
      );

    const grantRow = (r: RequestView, keep = formStateOf(document.getElementById(`grant-${r.id}`))) =>
      h(
        'tr',
        { id: `grant-${r.id}`, 'data-state': r.state },
        h('td', {}, r.requester.name, h('br'), h('span', { class: 'muted' }, r.requester.org)),
        h(
          'td',
          {},
          r.target.name,
          h('br'),
          h('span', { class: 'muted' }, `Zone ${r.target.zone ?? '—'} · ${r.protocol.toUpperCase()}`),
        ),
        h('td', {}, fmtSpan(r.startsAt, r.endsAt), h('br'), h('span', { class: 'muted' }, `Site: ${r.windowLocal}`)),
        h('td', { class: 'purpose' }, r.purpose),
        h('td', {}, stateBadge(r, `grant-state-${r.id}`)),
        h('td', {}, actionBar(r, upsert, keep)),
      );

    /** Puts one request where its state belongs now, replacing its old card or row in place. */
    function upsert(r: RequestView) {
      views.set(r.id, r);
      const card = document.getElementById(`appr-${r.id}`);
      const row = document.getElementById(`grant-${r.id}`);
      if (r.state === 'pending') {
        if (card) card.replaceWith(queueCard(r));
        else queue.prepend(queueCard(r));
      } else card?.remove();
      if (isOpenGrant(r)) {
        if (row) row.replaceWith(grantRow(r));
        else grants.prepend(grantRow(r));
      } else row?.remove();
      showEmpty();
    }
    function showEmpty() {
      queueEmpty.hidden = queue.childElementCount > 0;
      grantsEmpty.hidden = grants.childElementCount > 0;
      (grants.parentElement as HTMLElement).hidden = grants.childElementCount === 0;
    }
    async function load() {
      try {
        const [pending, approved] = await Promise.all([
          api<{ requests: RequestView[] }>('GET', '/api/requests?state=pending'),
          api<{ requests: RequestView[] }>('GET', '/api/requests?state=approved'),
        ]);
        error.textContent = '';
        views.clear();
        // Oldest first: the request waiting longest is decided first; grants by start.
        const byStart = (a: RequestView, b: RequestView) => Date.parse(a.startsAt) - Date.parse(b.startsAt);
        const waiting = pending.requests.sort(byStart);
        const open = approved.requests.filter((r) => isOpenGrant(r)).sort(byStart);
        for (const r of [...waiting, ...open]) views.set(r.id, r);
        clear(queue, ...waiting.map((r) => queueCard(r)));
        clear(grants, ...open.map((r) => grantRow(r)));
        showEmpty();
      } catch (err) {
        error.textContent = err instanceof ApiError ? err.message : 'could not load the requests';
      }
    }
    live(root, { onChange: (ev) => upsert(ev.request), onOpen: () => void load() });
    every(root, 30_000, () => {
      for (const r of views.values()) {
        if (r.state === 'approved' && !isOpenGrant(r)) document.getElementById(`grant-${r.id}`)?.remove();
        for (const id of [`appr-state-${r.id}`, `grant-state-${r.id}`])
          document.getElementById(id)?.replaceWith(stateBadge(r, id));
      }
      showEmpty();
    });
    await load();
  },
});
