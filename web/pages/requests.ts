// Vendor pages: the access request form (/requests/new, ?target= preselects) and "My requests" with live state.
import { ApiError, api } from '../api.js';
import { clear, h } from '../dom.js';
import { every, live } from '../live.js';
import { actionBar, stateBadge } from '../request-ui.js';
import type { RequestView } from '../request-types.js';
import { registerPage } from '../router.js';
import { fmtDuration, fmtSpan } from '../format.js';
import { requestForm } from './request-form.js';

registerPage({
  path: '/requests/new',
  title: 'Request access',
  roles: ['vendor'],
  nav: true,
  render: (ctx) => requestForm(ctx),
});

registerPage({
  path: '/requests',
  title: 'My requests',
  roles: ['vendor'],
  nav: true,
  async render({ main, query }) {
    const tbody = h('tbody', { id: 'my-requests-body' });
    const empty = h(
      'p',
      { class: 'muted', id: 'my-requests-empty', hidden: true },
      'You have not requested access yet.',
    );
    const error = h('p', { class: 'error', role: 'alert', id: 'my-requests-error' });
    const card = h(
      'section',
      { class: 'card', id: 'my-requests' },
      h('h1', {}, 'My requests'),
      h('p', {}, h('a', { href: '/requests/new', 'data-nav': true, class: 'button' }, 'Request access')),
      error,
      empty,
      h(
        'table',
        {},
        h(
          'thead',
          {},
          h('tr', {}, ...['Target', 'Window', 'Purpose', 'Status', ''].map((c) => h('th', { scope: 'col' }, c))),
        ),
        tbody,
      ),
    );
    main.append(card);
    const views = new Map<string, RequestView>();
    const created = query.get('created');

    const rowOf = (r: RequestView) =>
      h(
        'tr',
        { id: `req-row-${r.id}`, 'data-state': r.state, class: r.id === created ? 'fresh' : null },
        h(
          'td',
          {},
          r.target.name,
          h('br'),
          h('span', { class: 'muted' }, `Zone ${r.target.zone ?? '—'} · ${r.protocol.toUpperCase()}`),
        ),
        h(
          'td',
          {},
          fmtSpan(r.startsAt, r.endsAt),
          h('br'),
          h('span', { class: 'muted' }, fmtDuration(r.durationMinutes)),
        ),
        h('td', { class: 'purpose', id: `req-purpose-${r.id}` }, r.purpose),
        h('td', {}, stateBadge(r, `req-state-${r.id}`)),
        h('td', {}, h('a', { href: `/requests/${r.id}`, 'data-nav': true }, 'Details'), actionBar(r, upsert)),
      );

    function upsert(r: RequestView) {
      views.set(r.id, r);
      const old = document.getElementById(`req-row-${r.id}`);
      if (old) old.replaceWith(rowOf(r));
      else render();
    }
    function render() {
      const list = [...views.values()].sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt));
      clear(tbody, ...list.map(rowOf));
      empty.hidden = list.length > 0;
      (tbody.parentElement as HTMLElement).hidden = list.length === 0;
    }
    async function load() {
      try {
        const { requests } = await api<{ requests: RequestView[] }>('GET', '/api/requests');
        views.clear();
        for (const r of requests) views.set(r.id, r);
        error.textContent = '';
        render();
      } catch (err) {
        error.textContent = err instanceof ApiError ? err.message : 'could not load your requests';
      }
    }
    live(card, { onChange: (ev) => upsert(ev.request), onOpen: () => void load() });
    // "starts at" becomes "active now" and then "ended" by the clock alone, without an event.
    every(card, 30_000, () => {
      for (const r of views.values())
        document.getElementById(`req-state-${r.id}`)?.replaceWith(stateBadge(r, `req-state-${r.id}`));
    });
    await load();
  },
});
