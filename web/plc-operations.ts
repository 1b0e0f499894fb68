// PLC operations on the session pages: the searchable list of a session's operations, and the live panel where a watching
// supervisor sees alerts and approves or denies an operation held for confirmation (with a step-up).
import { ApiError, api } from './api.js';
import { clear, h } from './dom.js';
import { fmtDateTime } from './format.js';
import { withStepUp } from './step-up.js';

export interface PlcOperation {
  id: string;
  at: string;
  destination: string;
  protocol: string;
  unit: string;
  function: string;
  class: string;
  target?: string;
  count?: number;
  values?: string;
  verdict: string;
  wouldBe?: string;
  rule?: string;
  result?: string;
  decidedBy?: string;
  reason?: string;
  expiresAt?: string;
}

const cells = (o: PlcOperation) => [
  fmtDateTime(o.at),
  `${o.destination} · ${o.protocol} ${o.unit}`,
  o.function,
  o.target ?? '',
  o.values ?? '',
  h('span', { class: `state verdict-${o.verdict}` }, o.verdict),
  o.result ?? '',
  o.rule ?? '',
];
const HEAD = ['At', 'PLC', 'Operation', 'Addresses / block', 'Values', 'Verdict', 'Result', 'Rule'];

/** The session's PLC operations with a text search and a verdict filter; empty sessions say so. */
export function plcOperationsCard(sessionId: string): HTMLElement {
  const path = `/api/sessions/${encodeURIComponent(sessionId)}/plc`;
  const q = h('input', {
    id: 'plc-q',
    name: 'q',
    type: 'search',
    maxlength: 200,
    placeholder: 'coil, DB1, plc-stop, exception…',
    'aria-label': 'Search PLC operations',
  });
  const verdict = h(
    'select',
    { id: 'plc-verdict', 'aria-label': 'Verdict' },
    ...['', 'allowed', 'alerted', 'blocked', 'approved', 'denied'].map((v) =>
      h('option', { value: v }, v || 'Any verdict'),
    ),
  );
  const summary = h('p', { class: 'muted', id: 'plc-summary' });
  const tbody = h('tbody', { id: 'plc-body' });
  const form = h(
    'form',
    { class: 'filters', id: 'plc-filter' },
    q,
    ' ',
    verdict,
    ' ',
    h('button', { type: 'submit' }, 'Search'),
  );
  const card = h(
    'section',
    { class: 'card', id: 'plc-operations' },
    h('h2', {}, 'PLC operations'),
    form,
    summary,
    h(
      'table',
      { id: 'plc-table' },
      h('thead', {}, h('tr', {}, ...HEAD.map((c) => h('th', { scope: 'col' }, c)))),
      tbody,
    ),
  );
  const load = async () => {
    const query = new URLSearchParams();
    if (q.value.trim()) query.set('q', q.value.trim());
    if (verdict.value) query.set('verdict', verdict.value);
    try {
      const r = await api<{ operations: PlcOperation[]; total: number }>(
        'GET',
        `${path}${query.size ? `?${query}` : ''}`,
      );
      clear(tbody, ...r.operations.map((o) => h('tr', { id: `plc-${o.id}` }, ...cells(o).map((c) => h('td', {}, c)))));
      summary.textContent =
        r.total === 0
          ? 'No PLC operation matches (operations appear when a forward to a PLC is used).'
          : `${r.total} operations${r.total > r.operations.length ? `, the newest ${r.operations.length} shown` : ''}.`;
    } catch (err) {
      summary.textContent = err instanceof ApiError ? err.message : 'could not load the PLC operations';
    }
  };
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void load();
  });
  void load();
  return card;
}

/**
 * The live view's PLC panel: one line per alert or refusal as it happens, and for each held operation
 * Approve / Deny buttons (supervisors only; the server checks again and asks for a step-up).
 */
export function plcLivePanel(
  sessionId: string,
  mayDecide: boolean,
): { el: HTMLElement; event(msg: Record<string, unknown>): void } {
  const list = h('ul', { id: 'plc-live', class: 'plc-live' });
  const el = h(
    'section',
    { class: 'card', id: 'plc-panel' },
    h('h2', {}, 'PLC operations'),
    h('p', { class: 'muted' }, 'Alerts, refusals and operations waiting for a supervisor appear here as they happen.'),
    list,
  );
  const describe = (o: PlcOperation) =>
    `${o.function}${o.target ? ` ${o.target}` : ''}${o.values ? ` = ${o.values}` : ''} on ${o.destination} (${o.protocol} ${o.unit})`;
  const decide = async (o: PlcOperation, how: 'approve' | 'deny', row: HTMLElement, error: HTMLElement) => {
    error.textContent = '';
    try {
      const r = await withStepUp(() =>
        api<{ decided: string }>(
          'POST',
          `/api/sessions/${encodeURIComponent(sessionId)}/plc/${encodeURIComponent(o.id)}/${how}`,
          {},
        ),
      );
      if (!r) error.textContent = 'Not done: the verification was cancelled.';
      else clear(row, h('strong', {}, r.decided), ' ', describe(o));
    } catch (err) {
      error.textContent = err instanceof ApiError ? err.message : 'the decision failed';
    }
  };
  return {
    el,
    event(msg) {
      const o = msg.operation as PlcOperation | undefined;
      if (!o || typeof msg.event !== 'string') return;
      const kind = msg.event.replace(/^plc\./, '');
      if (kind === 'approved' || kind === 'denied') {
        const row = document.getElementById(`plc-held-${o.id}`);
        if (row) clear(row, h('strong', {}, kind), ' ', describe(o));
        return;
      }
      if (kind !== 'held') {
        list.prepend(
          h('li', { class: `plc-${kind}` }, h('strong', {}, kind), ' ', describe(o), o.rule ? ` — ${o.rule}` : ''),
        );
        return;
      }
      const error = h('span', { class: 'error', role: 'alert' });
      const row = h(
        'li',
        { class: 'plc-held', id: `plc-held-${o.id}` },
        h('strong', {}, 'waiting for confirmation'),
        ' ',
        describe(o),
        ` — ${o.reason ?? o.rule ?? ''}`,
        msg.expiresAt
          ? h('span', { class: 'muted' }, ` (refused at ${fmtDateTime(String(msg.expiresAt))} unless approved)`)
          : null,
        ' ',
      );
      if (mayDecide)
        row.append(
          h(
            'button',
            { type: 'button', id: `plc-approve-${o.id}`, onclick: () => void decide(o, 'approve', row, error) },
            'Approve',
          ),
          ' ',
          h(
            'button',
            {
              type: 'button',
              class: 'danger',
              id: `plc-deny-${o.id}`,
              onclick: () => void decide(o, 'deny', row, error),
            },
            'Deny',
          ),
          ' ',
          error,
        );
      list.prepend(row);
    },
  };
}
