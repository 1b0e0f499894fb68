// The sessions library (/sessions): filter recorded and live sessions; replay, watch or terminate from the list.
import { ApiError, api } from '../api.js';
import { h } from '../dom.js';
import { resultsCard } from '../results-card.js';
import { fmtDateTime, fromLocalInput } from '../format.js';
import { every } from '../live.js';
import type { TargetView } from '../request-types.js';
import { registerPage } from '../router.js';
import type { SessionView } from '../session-types.js';
import {
  END_REASON_KEYS,
  endReasonText,
  fmtSeconds,
  queryOf,
  sealText,
  statusBadge,
  terminateControl,
  watchPath,
} from '../session-ui.js';

const PAGE = 50;
const FIELDS = ['vendor', 'org', 'target', 'zone', 'protocol', 'from', 'to', 'endReason', 'live'] as const;
type Field = (typeof FIELDS)[number];

const option = (value: string, label: string, selected: boolean) => h('option', { value, selected }, label);

function select(id: Field, label: string, current: string, options: Array<[string, string]>): HTMLElement {
  return h(
    'div',
    { class: 'field' },
    h('label', { for: `f-${id}` }, label),
    h(
      'select',
      { id: `f-${id}`, name: id },
      option('', 'Any', current === ''),
      ...options.map(([v, l]) => option(v, l, v === current)),
    ),
  );
}

function input(id: Field, label: string, current: string, type = 'text'): HTMLElement {
  return h(
    'div',
    { class: 'field' },
    h('label', { for: `f-${id}` }, label),
    h('input', { id: `f-${id}`, name: id, type, value: current, maxlength: 200 }),
  );
}

registerPage({
  path: '/sessions',
  title: 'Sessions',
  // A vendor sees their own sessions here (the API never lists anyone else's for them).
  roles: ['vendor', 'supervisor', 'auditor', 'admin'],
  nav: true,
  async render({ me, main, query, navigate }) {
    const overseer = me.roles.some((r) => r === 'supervisor' || r === 'auditor' || r === 'admin');
    const cur = (f: Field) => query.get(f) ?? '';
    const offset = Math.max(0, Number(query.get('offset')) || 0);
    const {
      card: results,
      error,
      tbody,
      show,
    } = resultsCard('sessions', ['Started', 'Vendor', 'Target', 'Status', 'Commands', 'Recording', '']);
    const form = h('form', { id: 'sessions-filter', class: 'filters' });
    const root = h(
      'div',
      { id: 'sessions-library' },
      h(
        'section',
        { class: 'card' },
        h('h1', {}, overseer ? 'Sessions' : 'My sessions'),
        h(
          'p',
          { class: 'muted' },
          overseer
            ? 'Every vendor session, live or recorded. Replays are audited.'
            : 'Your own sessions: when, where, how they ended. Recordings are replayed by supervisors and auditors.',
        ),
        form,
      ),
      results,
    );
    main.append(root);

    // Targets (with zones) from what this user may see; vendors from an unfiltered first page.
    const [targets, everyone] = await Promise.all([
      api<{ targets: TargetView[] }>('GET', '/api/targets')
        .then((r) => r.targets)
        .catch(() => []),
      api<{ sessions: SessionView[] }>('GET', '/api/sessions?limit=500')
        .then((r) => r.sessions)
        .catch(() => []),
    ]);
    const vendors = new Map(everyone.map((s) => [s.vendor.id, `${s.vendor.name} (${s.vendor.org || s.vendor.email})`]));
    const zones = [...new Set(targets.map((t) => t.zone))].sort();
    form.append(
      h(
        'div',
        { class: 'filter-grid' },
        overseer
          ? select(
              'vendor',
              'Vendor',
              cur('vendor'),
              [...vendors].sort((x, y) => x[1].localeCompare(y[1])),
            )
          : null,
        overseer ? input('org', 'Organisation', cur('org')) : null,
        select(
          'target',
          'Target',
          cur('target'),
          targets.map((t) => [t.id, `${t.name} (${t.id})`]),
        ),
        select(
          'zone',
          'Zone',
          cur('zone'),
          zones.map((z) => [z, z]),
        ),
        select('protocol', 'Protocol', cur('protocol'), [
          ['ssh', 'SSH'],
          ['rdp', 'RDP'],
        ]),
        select(
          'endReason',
          'End reason',
          cur('endReason'),
          END_REASON_KEYS.map((k) => [k, endReasonText(k)]),
        ),
        input('from', 'From', cur('from'), 'datetime-local'),
        input('to', 'To', cur('to'), 'datetime-local'),
        select('live', 'Live', cur('live'), [
          ['true', 'Live now'],
          ['false', 'Ended'],
        ]),
      ),
      h(
        'p',
        {},
        h('button', { type: 'submit', id: 'sessions-apply' }, 'Apply filters'),
        ' ',
        h('a', { href: '/sessions', 'data-nav': true }, 'Clear'),
      ),
    );
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const data = new FormData(form);
      navigate(`/sessions${queryOf(Object.fromEntries(FIELDS.map((f) => [f, String(data.get(f) ?? '')])))}`);
    });

    const row = (s: SessionView): HTMLElement =>
      h(
        'tr',
        { id: `session-${s.id}`, 'data-live': String(s.live) },
        h(
          'td',
          {},
          fmtDateTime(s.startedAt),
          h('br'),
          h('span', { class: 'muted' }, s.durationSeconds === null ? 'running' : fmtSeconds(s.durationSeconds)),
        ),
        h('td', {}, s.vendor.name, h('br'), h('span', { class: 'muted' }, s.vendor.org)),
        h(
          'td',
          {},
          s.target.name,
          h('br'),
          h('span', { class: 'muted' }, `Zone ${s.target.zone ?? '—'} · ${s.protocol.toUpperCase()}`),
        ),
        h('td', {}, statusBadge(s, `session-status-${s.id}`)),
        h(
          'td',
          {},
          String(s.commands.total),
          s.commands.alerted ? h('span', { class: 'muted' }, ` · ${s.commands.alerted} alerted`) : null,
          s.commands.blocked ? h('span', { class: 'error' }, ` · ${s.commands.blocked} blocked`) : null,
        ),
        h('td', {}, sealText(s)),
        h(
          'td',
          { class: 'actions' },
          h(
            'a',
            { href: `/sessions/${encodeURIComponent(s.id)}`, 'data-nav': true, id: `replay-${s.id}` },
            s.can.replay ? 'Replay' : 'Details',
          ),
          ...(s.can.watch ? [' · ', h('a', { href: watchPath(s), id: `watch-${s.id}` }, 'Watch')] : []),
          s.can.terminate ? terminateControl(s, () => void load()) : null,
        ),
      );

    async function load(): Promise<void> {
      const apiQuery = queryOf({
        ...Object.fromEntries(FIELDS.map((f) => [f, cur(f)])),
        from: fromLocalInput(cur('from')),
        to: fromLocalInput(cur('to')),
        limit: String(PAGE),
        offset: offset ? String(offset) : undefined,
      });
      try {
        const r = await api<{ sessions: SessionView[]; total: number }>('GET', `/api/sessions${apiQuery}`);
        error.textContent = '';
        show(r.sessions.map(row), {
          offset,
          size: PAGE,
          total: r.total,
          noun: 'sessions',
          none: 'No session matches.',
          hrefAt: (o) =>
            `/sessions${queryOf({ ...Object.fromEntries(FIELDS.map((f) => [f, cur(f)])), offset: o ? String(o) : undefined })}`,
        });
      } catch (err) {
        error.textContent = err instanceof ApiError ? err.message : 'could not load the sessions';
      }
    }
    // Live sessions change by themselves; refresh while one is shown, unless a reason form is open.
    every(root, 10_000, () => {
      if (tbody.querySelector('tr[data-live="true"]') && !root.querySelector('form.reason-form')) void load();
    });
    await load();
  },
});
