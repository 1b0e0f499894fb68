// Shared pieces of the request pages: the status line, the approver's context and the action buttons.
import { ApiError, api } from './api.js';
import { h } from './dom.js';
import { fmtDateTime, fmtDuration, fmtRelative, fmtSpan } from './format.js';
import type { RequestView } from './request-types.js';
import { withStepUp } from './step-up.js';
import { endReasonText } from '../gateway/core/end-reasons.js';

/** "pending (0 of 1 approvals)", "approved · active now until …", "approved · starts at …", "revoked" … */
export function statusText(r: RequestView, now = Date.now()): string {
  const start = Date.parse(r.startsAt);
  const end = Date.parse(r.endsAt);
  switch (r.state) {
    case 'pending':
      // Undecided when its window ends, a request expires: the approver sees how long is left to decide.
      return `pending (${r.approvals} of ${r.approvalsRequired} approvals) · expires ${fmtRelative(end, now)}`;
    case 'approved':
      if (now < start) return `approved · starts at ${fmtDateTime(start)} (${fmtRelative(start, now)})`;
      if (now < end) return `approved · active now, until ${fmtDateTime(end)} (${fmtRelative(end, now)})`;
      return 'approved · ended';
    default:
      return r.closedReason ? `${r.state}: ${r.closedReason}` : r.state;
  }
}

/** The state as a badge; data-state carries the machine value for styles and tests. */
export function stateBadge(r: RequestView, id?: string): HTMLElement {
  const live = r.state === 'approved' && Date.now() >= Date.parse(r.startsAt) && Date.now() < Date.parse(r.endsAt);
  return h(
    'span',
    { class: `state state-${r.state}${live ? ' state-active' : ''}`, id, 'data-state': r.state },
    statusText(r),
  );
}

const row = (term: string, ...desc: Array<Node | string | null>) => [h('dt', {}, term), h('dd', {}, ...desc)];

/** Who, what, when and why: everything an approver decides on. Every value goes in as text. */
export function contextList(r: RequestView): HTMLElement {
  const t = r.target;
  const decisions = r.decisions.map((d) =>
    h(
      'li',
      {},
      `${d.verdict === 'approve' ? 'Approved' : 'Denied'} by ${d.by.name} at ${fmtDateTime(d.at)}`,
      d.reason ? ` — ${d.reason}` : null,
    ),
  );
  const earlier = r.earlierSessions;
  return h(
    'dl',
    { class: 'context', id: `ctx-${r.id}` },
    ...row(
      'Who',
      h('span', { class: 'who' }, r.requester.name),
      ` · ${r.requester.org} · `,
      h('span', { class: 'mono' }, r.requester.email),
    ),
    ...row(
      'Target',
      `${t.name} (${t.id})`,
      h('br'),
      h(
        'span',
        { class: 'muted' },
        `Zone ${t.zone ?? '—'} · SL ${t.securityLevel ?? '—'} · ${r.protocol.toUpperCase()}`,
      ),
    ),
    ...row(
      'Window',
      `${fmtSpan(r.startsAt, r.endsAt)} (${fmtDuration(r.durationMinutes)})`,
      h('br'),
      h('span', { class: 'muted' }, `Site time: ${r.windowLocal}`),
    ),
    ...row('Purpose', h('span', { class: 'purpose', id: `purpose-${r.id}` }, r.purpose)),
    ...row('Ticket', r.ticket ?? '—'),
    ...(r.emergency
      ? row(
          'Emergency',
          h('strong', { class: 'error' }, 'Yes — outside maintenance windows: '),
          r.emergencyReason ?? '',
        )
      : []),
    ...row(
      'Approvals',
      `${r.approvals} of ${r.approvalsRequired}`,
      decisions.length ? h('ul', { class: 'decisions' }, ...decisions) : null,
    ),
    ...(earlier
      ? row(
          'Earlier sessions',
          earlier.count === 0 ? 'None on this target' : `${earlier.count} on this target`,
          earlier.recent.length
            ? h(
                'ul',
                { class: 'earlier' },
                ...earlier.recent.map((s) =>
                  h(
                    'li',
                    {},
                    h(
                      'a',
                      { href: `/sessions/${encodeURIComponent(s.id)}`, 'data-nav': true },
                      fmtDateTime(s.startedAt),
                    ),
                    ` · ${s.protocol.toUpperCase()}`,
                    s.endedAt
                      ? ` · ${fmtDuration((Date.parse(s.endedAt) - Date.parse(s.startedAt)) / 60_000)}`
                      : ' · live',
                    s.endReason ? ` · ${endReasonText(s.endReason)}` : '',
                  ),
                ),
              )
            : null,
        )
      : []),
  );
}

export type Action = 'approve' | 'deny' | 'cancel' | 'revoke';
/** An open reason form survives a re-render of its card (another approver acted meanwhile). */
export interface FormState {
  open?: Action;
  text: string;
  /** An approval comment being typed. */
  comment?: string;
}

const LABEL: Record<Action, string> = { approve: 'Approve', deny: 'Deny', cancel: 'Cancel request', revoke: 'Revoke' };

export function formStateOf(el: Element | null): FormState | undefined {
  const form = el?.querySelector<HTMLFormElement>('form.reason-form');
  const open = form?.dataset.action as Action | undefined;
  const comment = el?.querySelector<HTMLInputElement>('input.approve-comment')?.value || undefined;
  if (!open && comment === undefined) return undefined;
  return {
    ...(open ? { open } : {}),
    text: form?.querySelector('textarea')?.value ?? '',
    ...(comment ? { comment } : {}),
  };
}

/** The buttons the viewer's `can` allows; each calls the API (with step-up) and hands the new view back. */
export function actionBar(r: RequestView, onDone: (r: RequestView) => void, keep?: FormState): HTMLElement {
  const bar = h('div', { class: 'actions', id: `actions-${r.id}` });
  const error = h('p', { class: 'error', role: 'alert', id: `action-error-${r.id}` });
  const run = async (action: Action, body: unknown, buttons: HTMLButtonElement[]) => {
    error.textContent = '';
    for (const b of buttons) b.disabled = true;
    try {
      const view = await withStepUp(() => api<RequestView>('POST', `/api/requests/${r.id}/${action}`, body));
      if (view) onDone(view);
      else error.textContent = 'Not done: the verification was cancelled.';
    } catch (err) {
      error.textContent = err instanceof ApiError ? err.message : `${action} failed`;
    } finally {
      for (const b of buttons) b.disabled = false;
    }
  };
  const reasonForm = (action: 'deny' | 'revoke' | 'cancel', text: string) => {
    const needsReason = action !== 'cancel';
    const input = needsReason
      ? h('textarea', { id: `${action}-reason-${r.id}`, rows: 2, required: true, maxlength: 500 })
      : null;
    if (input) input.value = text;
    const submit = h(
      'button',
      { type: 'submit', id: `${action}-submit-${r.id}` },
      needsReason ? `${LABEL[action]} with this reason` : 'Yes, cancel it',
    );
    const back = h(
      'button',
      { type: 'button', class: 'secondary', onclick: () => form.replaceWith(buttons()) },
      'Back',
    );
    const form = h(
      'form',
      { class: 'reason-form', 'data-action': action },
      input
        ? h(
            'label',
            { for: input.id },
            action === 'deny' ? 'Why deny? (the vendor sees this)' : 'Why revoke? (live sessions are closed)',
          )
        : h('p', {}, 'Withdraw this request?'),
      input,
      h('p', {}, submit, ' ', back),
    );
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      void run(action, needsReason ? { reason: input!.value.trim() } : {}, [submit, back]);
    });
    return form;
  };
  const buttons = (): HTMLElement => {
    const list: HTMLButtonElement[] = [];
    const wrap = h('p', { class: 'buttons' });
    const add = (action: Action, cls: string, onclick: () => void) => {
      const b = h('button', { type: 'button', id: `${action}-${r.id}`, class: cls, onclick }, LABEL[action]);
      list.push(b);
      wrap.append(b, ' ');
    };
    if (r.can.approve) {
      // Optional, beside the button: approving stays one click, and the words are kept with the decision (as a
      // denial's reason is), shown on the request and in the evidence report.
      const comment = h('input', {
        type: 'text',
        class: 'approve-comment',
        id: `approve-comment-${r.id}`,
        maxlength: 500,
        placeholder: 'Comment (optional)',
        'aria-label': 'Approval comment (optional)',
      });
      comment.value = keep?.comment ?? '';
      wrap.append(comment, ' ');
      add('approve', '', () => {
        const text = comment.value.trim();
        void run('approve', text ? { comment: text } : {}, list);
      });
    }
    if (r.can.deny) add('deny', 'secondary', () => wrap.replaceWith(reasonForm('deny', '')));
    if (r.can.revoke) add('revoke', 'danger', () => wrap.replaceWith(reasonForm('revoke', '')));
    if (r.can.cancel) add('cancel', 'secondary', () => wrap.replaceWith(reasonForm('cancel', '')));
    return wrap;
  };
  if (!r.can.approve && !r.can.deny && !r.can.revoke && !r.can.cancel) return bar;
  const reopen = keep?.open && keep.open !== 'approve' && r.can[keep.open] ? keep.open : undefined;
  bar.append(reopen ? reasonForm(reopen, keep!.text) : buttons(), error);
  return bar;
}
