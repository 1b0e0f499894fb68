// Command search (/commands?q=…): captured commands across every session the viewer may see; each hit opens the replay there.
import { ApiError, api } from '../api.js';
import { h } from '../dom.js';
import { resultsCard } from '../results-card.js';
import { fmtDateTime, fromLocalInput } from '../format.js';
import type { TargetView } from '../request-types.js';
import { registerPage } from '../router.js';
import type { CommandWithReason } from '../session-types.js';
import { fmtOffset, queryOf } from '../session-ui.js';

const PAGE = 100;

registerPage({
  path: '/commands',
  title: 'Commands',
  roles: ['supervisor', 'auditor', 'admin'],
  nav: true,
  async render({ main, query, navigate }) {
    const cur = (k: string) => query.get(k) ?? '';
    const offset = Math.max(0, Number(query.get('offset')) || 0);
    const q = h('input', {
      id: 'cmd-q',
      name: 'q',
      type: 'search',
      value: cur('q'),
      maxlength: 200,
      placeholder: 'e.g. plc download',
      'aria-label': 'Command text',
    });
    const target = h('select', { id: 'cmd-target', name: 'target' }, h('option', { value: '' }, 'Any target'));
    const verdict = h(
      'select',
      { id: 'cmd-verdict', name: 'verdict' },
      ...[
        ['', 'Any verdict'],
        ['allowed', 'allowed'],
        ['alerted', 'alerted'],
        ['blocked', 'blocked'],
      ].map(([v, l]) => h('option', { value: v!, selected: v === cur('verdict') }, l!)),
    );
    const from = h('input', { id: 'cmd-from', name: 'from', type: 'datetime-local', value: cur('from') });
    const to = h('input', { id: 'cmd-to', name: 'to', type: 'datetime-local', value: cur('to') });
    const form = h(
      'form',
      { id: 'commands-search', class: 'filters' },
      h('label', { for: 'cmd-q' }, 'Command contains'),
      h('p', { class: 'search-line' }, q, ' ', h('button', { type: 'submit', id: 'cmd-submit' }, 'Search')),
      h(
        'div',
        { class: 'filter-grid' },
        h('div', { class: 'field' }, h('label', { for: 'cmd-target' }, 'Target'), target),
        h('div', { class: 'field' }, h('label', { for: 'cmd-verdict' }, 'Verdict'), verdict),
        h('div', { class: 'field' }, h('label', { for: 'cmd-from' }, 'From'), from),
        h('div', { class: 'field' }, h('label', { for: 'cmd-to' }, 'To'), to),
      ),
    );
    const {
      card: results,
      error,
      show,
    } = resultsCard('commands', ['When', 'Vendor', 'Target', 'Command', 'Verdict', '']);
    main.append(
      h(
        'section',
        { class: 'card' },
        h('h1', {}, 'Command search'),
        h(
          'p',
          { class: 'muted' },
          'Case-insensitive search over every captured command. A hit opens the replay at that moment.',
        ),
        form,
      ),
      results,
    );
    const fields = () => ({
      q: q.value.trim(),
      target: target.value,
      verdict: verdict.value,
      from: from.value,
      to: to.value,
    });
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      navigate(`/commands${queryOf(fields())}`);
    });
    void api<{ targets: TargetView[] }>('GET', '/api/targets').then(({ targets }) => {
      for (const t of targets)
        target.append(h('option', { value: t.id, selected: t.id === cur('target') }, `${t.name} (${t.id})`));
    });

    const row = (c: CommandWithReason, i: number) =>
      h(
        'tr',
        { id: `hit-${i}`, 'data-session': c.sessionId },
        h('td', {}, fmtDateTime(c.at)),
        h('td', {}, c.vendor.name, h('br'), h('span', { class: 'muted' }, c.vendor.org)),
        h('td', {}, c.target.name),
        h('td', {}, h('code', { class: 'command' }, c.text)),
        h(
          'td',
          {},
          h('span', { class: `state verdict-${c.verdict}` }, c.verdict),
          // Why it was flagged, in the rule author's words: the verdict alone does not tell a reviewer what to look at.
          c.verdict !== 'allowed' && c.reason
            ? h('span', { class: 'muted rule-reason', id: `hit-reason-${i}` }, c.reason)
            : null,
        ),
        h(
          'td',
          {},
          h(
            'a',
            {
              href: `/sessions/${encodeURIComponent(c.sessionId)}?t=${c.offsetSeconds}`,
              'data-nav': true,
              class: 'open-replay',
              id: `open-${i}`,
            },
            `Replay at ${fmtOffset(c.offsetSeconds)}`,
          ),
        ),
      );

    try {
      const base = { q: cur('q'), target: cur('target'), verdict: cur('verdict'), from: cur('from'), to: cur('to') };
      const r = await api<{ commands: CommandWithReason[]; total: number }>(
        'GET',
        `/api/commands${queryOf({ ...base, from: fromLocalInput(base.from), to: fromLocalInput(base.to), limit: String(PAGE), offset: offset ? String(offset) : undefined })}`,
      );
      show(r.commands.map(row), {
        offset,
        size: PAGE,
        total: r.total,
        noun: 'commands',
        none: 'No captured command matches.',
        hrefAt: (o) => `/commands${queryOf({ ...base, offset: o ? String(o) : undefined })}`,
      });
    } catch (err) {
      error.textContent = err instanceof ApiError ? err.message : 'the search failed';
    }
  },
});
