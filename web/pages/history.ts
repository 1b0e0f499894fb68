// Request history (/approvals/history): every request a supervisor or auditor may see — denied, expired, revoked as
// well as open ones — filtered on the server (GET /api/requests/history) by state, target, vendor and period.
import { ApiError, api } from '../api.js';
import { h } from '../dom.js';
import { resultsCard } from '../results-card.js';
import { fmtDateTime, fmtSpan, fromLocalInput } from '../format.js';
import type { RequestView, TargetView } from '../request-types.js';
import { registerPage } from '../router.js';
import { queryOf } from '../session-ui.js';

const PAGE = 50;
const FIELDS = ['state', 'target', 'vendor', 'from', 'to'] as const;
type Field = (typeof FIELDS)[number];
const STATES = ['pending', 'approved', 'denied', 'expired', 'revoked', 'cancelled'] as const;

const field = (id: string, label: string, control: HTMLElement) =>
  h('div', { class: 'field' }, h('label', { for: id }, label), control);

/** What happened to it, in words: the decisions with their reasons or comments, and why it closed. */
function outcome(r: RequestView): HTMLElement {
  const lines = r.decisions.map(
    (d) =>
      `${d.verdict === 'approve' ? 'Approved' : 'Denied'} by ${d.by.name} at ${fmtDateTime(d.at)}${d.reason ? ` — ${d.reason}` : ''}`,
  );
  if (r.state === 'expired') lines.push('Expired undecided when its window ended');
  else if (r.state !== 'denied' && r.closedReason) lines.push(`${r.state}: ${r.closedReason}`);
  return lines.length ? h('ul', { class: 'decisions' }, ...lines.map((l) => h('li', {}, l))) : h('span', {}, '—');
}

registerPage({
  path: '/approvals/history',
  title: 'Request history',
  roles: ['supervisor', 'auditor', 'admin'],
  nav: true,
  async render({ main, query, navigate }) {
    const cur = (f: Field) => query.get(f) ?? '';
    const offset = Math.max(0, Number(query.get('offset')) || 0);
    const state = h(
      'select',
      { id: 'h-state', name: 'state' },
      h('option', { value: '' }, 'Any state'),
      ...STATES.map((s) => h('option', { value: s, selected: s === cur('state') }, s)),
    );
    const target = h('select', { id: 'h-target', name: 'target' }, h('option', { value: '' }, 'Any target'));
    const vendor = h('input', {
      id: 'h-vendor',
      name: 'vendor',
      type: 'text',
      maxlength: 200,
      value: cur('vendor'),
      placeholder: 'name, e-mail or id',
    });
    const from = h('input', { id: 'h-from', name: 'from', type: 'datetime-local', value: cur('from') });
    const to = h('input', { id: 'h-to', name: 'to', type: 'datetime-local', value: cur('to') });
    const form = h(
      'form',
      { id: 'history-filter', class: 'filters' },
      h(
        'div',
        { class: 'filter-grid' },
        field('h-state', 'State', state),
        field('h-target', 'Target', target),
        field('h-vendor', 'Vendor', vendor),
        field('h-from', 'Requested from', from),
        field('h-to', 'Requested before', to),
      ),
      h(
        'p',
        {},
        h('button', { type: 'submit', id: 'history-apply' }, 'Apply filters'),
        ' ',
        h('a', { href: '/approvals/history', 'data-nav': true }, 'Clear'),
      ),
    );
    const {
      card: results,
      error,
      show,
    } = resultsCard('history', ['Requested', 'Vendor', 'Target', 'Window', 'State', 'Decisions', '']);
    main.append(
      h(
        'section',
        { class: 'card' },
        h('h1', {}, 'Request history'),
        h(
          'p',
          { class: 'muted' },
          'Every request you may see, newest first: decided, expired and revoked ones too. ',
          h('a', { href: '/approvals', 'data-nav': true }, 'Waiting for a decision →'),
        ),
        form,
      ),
      results,
    );
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      navigate(
        `/approvals/history${queryOf({ state: state.value, target: target.value, vendor: vendor.value.trim(), from: from.value, to: to.value })}`,
      );
    });
    void api<{ targets: TargetView[] }>('GET', '/api/targets')
      .then(({ targets }) => {
        for (const t of targets)
          target.append(h('option', { value: t.id, selected: t.id === cur('target') }, `${t.name} (${t.id})`));
      })
      .catch(() => undefined);

    const row = (r: RequestView) =>
      h(
        'tr',
        { id: `hist-${r.id}`, 'data-state': r.state },
        h('td', {}, fmtDateTime(r.createdAt)),
        h('td', {}, r.requester.name, h('br'), h('span', { class: 'muted' }, r.requester.org)),
        h(
          'td',
          {},
          r.target.name,
          h('br'),
          h('span', { class: 'muted' }, `${r.target.id} · ${r.protocol.toUpperCase()}`),
        ),
        h('td', {}, fmtSpan(r.startsAt, r.endsAt)),
        h('td', {}, h('span', { class: `state state-${r.state}`, 'data-state': r.state }, r.state)),
        h('td', {}, outcome(r)),
        h('td', {}, h('a', { href: `/requests/${encodeURIComponent(r.id)}`, 'data-nav': true }, 'Details')),
      );

    const base = Object.fromEntries(FIELDS.map((f) => [f, cur(f)]));
    try {
      const r = await api<{ requests: RequestView[]; total: number }>(
        'GET',
        `/api/requests/history${queryOf({ ...base, from: fromLocalInput(cur('from')), to: fromLocalInput(cur('to')), limit: String(PAGE), offset: offset ? String(offset) : undefined })}`,
      );
      show(r.requests.map(row), {
        offset,
        size: PAGE,
        total: r.total,
        noun: 'requests',
        none: 'No request matches.',
        hrefAt: (o) => `/approvals/history${queryOf({ ...base, offset: o ? String(o) : undefined })}`,
      });
    } catch (err) {
      error.textContent = err instanceof ApiError ? err.message : 'could not load the history';
    }
  },
});
