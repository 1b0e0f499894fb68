// Audit trail (/audit): records filtered by type, actor, target, session and time; chain verification and the last signed checkpoint.
import { ApiError, api } from '../api.js';
import { clear, h } from '../dom.js';
import { fmtDateTime, fromLocalInput } from '../format.js';
import type { TargetView } from '../request-types.js';
import { registerPage } from '../router.js';
import type { AuditPageView, AuditRecord, AuditVerifyView } from '../session-types.js';
import { summarise } from '../audit-summary.js';
import { queryOf } from '../session-ui.js';

/** Families for the type field (`session.*`); exact types such as `recording.viewed` can be typed too. */
const FAMILIES = [
  'access',
  'audit',
  'auth',
  'channel',
  'command',
  'evidence',
  'file',
  'forward',
  'gateway',
  'grant',
  'hostkey',
  'key',
  'notify',
  'rdp',
  'recording',
  'request',
  'session',
  'stepup',
  'totp',
];
const FIELDS = ['type', 'actor', 'target', 'session', 'from', 'to', 'checkpoints'] as const;

function actorText(a: AuditRecord['actor']): string {
  if (a.kind === 'user') return `${a.name ?? a.id}${a.email ? ` <${a.email}>` : ''}${a.ip ? ` from ${a.ip}` : ''}`;
  if (a.kind === 'system') return `system (${a.id})`;
  return `anonymous${a.ip ? ` from ${a.ip}` : ''}`;
}

/** The record as stored, one click away: text in a <pre>, never markup. */
function raw(rec: AuditRecord): HTMLElement {
  return h(
    'details',
    { class: 'raw', id: `audit-raw-${rec.seq}` },
    h('summary', {}, 'Raw record'),
    h('pre', { class: 'mono' }, JSON.stringify(rec, null, 2)),
  );
}

function chainStatus(v: AuditVerifyView): HTMLElement {
  const cp = v.lastCheckpoint;
  return h(
    'div',
    { id: 'chain-status', class: `chain ${v.ok ? 'chain-ok' : 'chain-broken'}`, 'data-ok': String(v.ok) },
    v.ok
      ? h(
          'p',
          {},
          h('strong', {}, 'Chain intact'),
          ` — ${v.records} records, ${v.checkpoints ?? 0} signed checkpoints, head at seq ${v.head?.seq ?? 0}.`,
        )
      : h(
          'p',
          { class: 'error' },
          h('strong', {}, 'Chain BROKEN'),
          ` at record seq ${v.failure?.seq} (line ${v.failure?.line}): ${v.failure?.reason ?? ''}`,
        ),
    cp
      ? h(
          'p',
          { id: 'last-checkpoint' },
          `Last signed checkpoint: seq ${cp.seq} at ${fmtDateTime(cp.at)}, covering records up to seq ${cp.upToSeq} (`,
          h('code', {}, cp.upToHash.slice(0, 16)),
          `…), Ed25519 key `,
          h('code', {}, cp.keyId),
          '.',
        )
      : h('p', { class: 'muted', id: 'last-checkpoint' }, 'No verified checkpoint to show.'),
    h('p', { class: 'muted' }, `Verified ${fmtDateTime(v.verifiedAt)}. Gateway key `, h('code', {}, v.keyId), '.'),
  );
}

registerPage({
  path: '/audit',
  title: 'Audit trail',
  roles: ['auditor', 'admin'],
  nav: true,
  async render({ main, query, navigate }) {
    const cur = (k: string) => query.get(k) ?? '';
    const before = query.get('before') ?? '';
    const input = (id: (typeof FIELDS)[number], label: string, type = 'text', extra: Record<string, string> = {}) =>
      h(
        'div',
        { class: 'field' },
        h('label', { for: `a-${id}` }, label),
        h('input', { id: `a-${id}`, name: id, type, value: cur(id), maxlength: 200, ...extra }),
      );
    const targetSelect = h('select', { id: 'a-target', name: 'target' }, h('option', { value: '' }, 'Any target'));
    const form = h(
      'form',
      { id: 'audit-filter', class: 'filters' },
      h(
        'div',
        { class: 'filter-grid' },
        input('type', 'Type (e.g. session.* or recording.viewed)', 'text', { list: 'audit-families' }),
        h('datalist', { id: 'audit-families' }, ...FAMILIES.map((f) => h('option', { value: `${f}.*` }))),
        input('actor', 'Actor (name, e-mail or id)'),
        h('div', { class: 'field' }, h('label', { for: 'a-target' }, 'Target'), targetSelect),
        input('session', 'Session id'),
        input('from', 'From', 'datetime-local'),
        input('to', 'To', 'datetime-local'),
      ),
      h(
        'p',
        {},
        h(
          'label',
          { class: 'inline' },
          h('input', {
            type: 'checkbox',
            id: 'a-checkpoints',
            name: 'checkpoints',
            value: 'true',
            checked: cur('checkpoints') === 'true',
          }),
          ' Show signed checkpoints',
        ),
      ),
      h(
        'p',
        {},
        h('button', { type: 'submit', id: 'audit-apply' }, 'Apply filters'),
        ' ',
        h('a', { href: '/audit', 'data-nav': true }, 'Clear'),
      ),
    );
    const status = h(
      'section',
      { class: 'card', id: 'audit-chain' },
      h('h2', {}, 'Chain verification'),
      h('p', { class: 'muted' }, 'Verifying…'),
    );
    const error = h('p', { class: 'error', role: 'alert', id: 'audit-error' });
    const tbody = h('tbody', { id: 'audit-body' });
    const pager = h('p', { class: 'pager' });
    main.append(
      h(
        'section',
        { class: 'card' },
        h('h1', {}, 'Audit trail'),
        h('p', { class: 'muted' }, 'Every action and refusal, hash-chained and signed. Reading it is audited too.'),
        form,
      ),
      status,
      h(
        'section',
        { class: 'card' },
        error,
        h(
          'table',
          { id: 'audit-table' },
          h(
            'thead',
            {},
            h('tr', {}, ...['Seq', 'Time', 'What happened', 'Record'].map((c) => h('th', { scope: 'col' }, c))),
          ),
          tbody,
        ),
        pager,
      ),
    );
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const data = new FormData(form);
      navigate(`/audit${queryOf(Object.fromEntries(FIELDS.map((f) => [f, String(data.get(f) ?? '').trim()])))}`);
    });
    const targetNames = api<{ targets: TargetView[] }>('GET', '/api/targets')
      .then(({ targets }) => {
        for (const t of targets)
          targetSelect.append(h('option', { value: t.id, selected: t.id === cur('target') }, `${t.name} (${t.id})`));
        return new Map(targets.map((t) => [t.id, t.name]));
      })
      .catch(() => new Map<string, string>());
    void api<AuditVerifyView>('GET', '/api/audit/verify')
      .then((v) => clear(status, h('h2', {}, 'Chain verification'), chainStatus(v)))
      .catch((err: unknown) =>
        clear(
          status,
          h('h2', {}, 'Chain verification'),
          h('p', { class: 'error' }, err instanceof ApiError ? err.message : 'verification failed'),
        ),
      );

    const filters = Object.fromEntries(FIELDS.map((f) => [f, cur(f)]));
    try {
      // Checkpoints are the chain's own bookkeeping: left out unless asked for, so the trail reads as what people did.
      const r = await api<AuditPageView>(
        'GET',
        `/api/audit${queryOf({ ...filters, checkpoints: cur('checkpoints') === 'true' ? undefined : 'false', from: fromLocalInput(cur('from')), to: fromLocalInput(cur('to')), before, limit: '100' })}`,
      );
      const targets = await targetNames;
      const names = { person: (id: string) => r.people[id], target: (id: string) => targets.get(id) };
      clear(
        tbody,
        ...r.records.map((rec) =>
          h(
            'tr',
            { id: `audit-${rec.seq}`, 'data-type': rec.type },
            h('td', { class: 'mono' }, String(rec.seq)),
            h('td', {}, fmtDateTime(rec.at)),
            h(
              'td',
              {},
              h('span', { class: 'audit-summary', id: `audit-summary-${rec.seq}` }, summarise(rec, names)),
              h('br'),
              h('span', { class: 'muted mono' }, rec.type),
              ' · ',
              h('span', { class: 'muted' }, actorText(rec.actor)),
            ),
            h('td', {}, raw(rec)),
          ),
        ),
      );
      if (r.records.length === 0)
        tbody.append(h('tr', {}, h('td', { colspan: 4, class: 'muted' }, 'No record matches.')));
      clear(
        pager,
        before ? h('a', { href: `/audit${queryOf(filters)}`, 'data-nav': true, id: 'audit-newest' }, '← Newest') : null,
        ' ',
        r.nextBefore !== null
          ? h(
              'a',
              {
                href: `/audit${queryOf({ ...filters, before: String(r.nextBefore) })}`,
                'data-nav': true,
                id: 'audit-older',
              },
              'Older →',
            )
          : null,
      );
    } catch (err) {
      error.textContent = err instanceof ApiError ? err.message : 'could not load the audit trail';
    }
  },
});
