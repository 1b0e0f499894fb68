// The vendor's access request form: target (zone, SL, windows), protocol, start, duration, purpose, ticket, emergency.
import { ApiError, api } from '../api.js';
import { clear, h } from '../dom.js';
import { browserTimeZone, fmtDuration, fmtSpan, fromLocalInput, toLocalInput } from '../format.js';
import type { RequestView, TargetView, WindowRule } from '../request-types.js';
import type { PageContext } from '../router.js';
import { withStepUp } from '../step-up.js';

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const dayList = (days: readonly string[]) =>
  DAYS.filter((d) => days.includes(d))
    .map((d) => d[0]!.toUpperCase() + d.slice(1))
    .join(', ');
const ruleText = (w: WindowRule) => `${dayList(w.days)} ${w.from}–${w.to}`;

/** Is [start, end) inside one of the spans the server listed? undefined: the list does not reach that far. */
function insideWindow(t: TargetView, start: number, end: number): boolean | undefined {
  if (t.maintenanceWindows === null) return true;
  if (t.maintenanceWindows.length === 0) return false;
  const spans = t.nextWindows.map((w) => ({ start: Date.parse(w.start), end: Date.parse(w.end) }));
  if (spans.some((w) => w.start <= start && end <= w.end)) return true;
  const last = spans[spans.length - 1];
  return last && start < last.end ? false : undefined;
}

const field = (id: string, label: string, control: HTMLElement, hint?: HTMLElement | string) =>
  h(
    'div',
    { class: 'field' },
    h('label', { for: id }, label),
    control,
    hint ? h('div', { class: 'hint muted' }, hint) : null,
  );

export async function requestForm({ me, main, query, navigate }: PageContext): Promise<void> {
  const card = h('section', { class: 'card', id: 'request-new' }, h('h1', {}, 'Request access'));
  main.append(card);
  let targets: TargetView[];
  try {
    targets = (await api<{ targets: TargetView[] }>('GET', '/api/targets')).targets.filter((t) => t.canRequest);
  } catch (err) {
    card.append(
      h('p', { class: 'error', role: 'alert' }, err instanceof ApiError ? err.message : 'could not load the targets'),
    );
    return;
  }
  if (targets.length === 0) {
    card.append(h('p', { class: 'muted', id: 'no-targets' }, 'There is no target you may request access to.'));
    return;
  }
  const wanted = query.get('target');
  const target = h('select', { id: 'req-target', name: 'targetId', required: true });
  for (const t of targets)
    target.append(
      h(
        'option',
        { value: t.id, selected: t.id === wanted },
        `${t.name} (${t.id}) — ${t.zone} · SL ${t.securityLevel}`,
      ),
    );
  const info = h('div', { class: 'target-info', id: 'target-info', 'aria-live': 'polite' });
  const protocol = h('select', { id: 'req-protocol', name: 'protocol', required: true });
  const startNow = h('input', { type: 'radio', name: 'start', id: 'start-now', value: 'now', checked: true });
  const startAt = h('input', { type: 'radio', name: 'start', id: 'start-at', value: 'at' });
  const start = h('input', {
    type: 'datetime-local',
    id: 'req-start',
    name: 'startsAt',
    disabled: true,
    'aria-label': 'Start time',
  });
  const duration = h('input', {
    type: 'number',
    id: 'req-duration',
    name: 'durationMinutes',
    min: 1,
    step: 1,
    required: true,
  });
  const durationHint = h('span', { id: 'req-duration-hint' });
  const purpose = h('textarea', {
    id: 'req-purpose',
    name: 'purpose',
    rows: 3,
    required: true,
    minlength: 10,
    maxlength: 500,
  });
  const ticket = h('input', { id: 'req-ticket', name: 'ticket', maxlength: 64, placeholder: 'e.g. CHG-1234' });
  const emergency = h('input', { type: 'checkbox', id: 'req-emergency', name: 'emergency' });
  const reason = h('textarea', {
    id: 'req-emergency-reason',
    name: 'emergencyReason',
    rows: 2,
    minlength: 10,
    maxlength: 500,
  });
  const emergencyNote = h('p', { class: 'note', id: 'emergency-note' });
  const reasonBox = h(
    'div',
    { id: 'emergency-box', hidden: true },
    emergencyNote,
    field('req-emergency-reason', 'Why can it not wait for a maintenance window?', reason),
  );
  const windowHint = h('p', { class: 'note', id: 'window-hint', role: 'status' });
  const error = h('p', { class: 'error', role: 'alert', id: 'req-error' });
  const submit = h('button', { type: 'submit', id: 'req-submit' }, 'Send request');

  const current = () => targets.find((t) => t.id === target.value) ?? targets[0]!;
  const startMs = () => (startAt.checked ? Date.parse(fromLocalInput(start.value) ?? '') : Date.now());

  function showTarget() {
    const t = current();
    clear(
      protocol,
      ...t.protocols.map((p) => h('option', { value: p, selected: p === protocol.value }, p.toUpperCase())),
    );
    duration.max = String(t.maxDurationMinutes);
    if (!duration.value || Number(duration.value) > t.maxDurationMinutes)
      duration.value = String(Math.min(60, t.maxDurationMinutes));
    const useWindow = (w: { start: string }) => () => {
      startAt.checked = true;
      start.disabled = false;
      start.value = toLocalInput(Math.max(Date.parse(w.start), Date.now() + 60_000));
      update();
    };
    clear(
      info,
      // The id is what the vendor types later (`ssh <id>@gateway`): shown where the target is chosen.
      h('p', {}, 'Target ID ', h('code', { id: 'target-id' }, t.id)),
      h(
        'p',
        {},
        `Zone ${t.zone} · security level ${t.securityLevel} · ${t.approvalsRequired} approval(s) needed · at most ${fmtDuration(t.maxDurationMinutes)}`,
      ),
      h(
        'p',
        {},
        'Maintenance windows: ',
        t.maintenanceWindows === null
          ? 'no restriction'
          : t.maintenanceWindows.length === 0
            ? 'none (every request is an emergency)'
            : `${t.maintenanceWindows.map(ruleText).join('; ')} (${t.timeZone})`,
      ),
      t.nextWindows.length && t.maintenanceWindows !== null
        ? h(
            'ul',
            { id: 'next-windows', class: 'windows' },
            ...t.nextWindows.map((w) =>
              h(
                'li',
                {},
                `${fmtSpan(w.start, w.end, t.timeZone)} `,
                h('button', { type: 'button', class: 'link', onclick: useWindow(w) }, 'Start then'),
              ),
            ),
          )
        : null,
    );
    update();
  }

  function update() {
    const t = current();
    start.disabled = !startAt.checked;
    if (startAt.checked && !start.value) start.value = toLocalInput(Date.now() + 5 * 60_000);
    durationHint.textContent = `${fmtDuration(Number(duration.value) || 0)} (at most ${fmtDuration(t.maxDurationMinutes)})`;
    reasonBox.hidden = !emergency.checked;
    reason.required = emergency.checked;
    emergencyNote.textContent = `An emergency request needs ${t.emergencyApprovalsRequired} approvals (twice the usual) and is only for work outside the maintenance windows.`;
    const s = startMs();
    const inside = Number.isNaN(s) ? undefined : insideWindow(t, s, s + (Number(duration.value) || 0) * 60_000);
    windowHint.textContent =
      inside === false && !emergency.checked
        ? 'This window is not inside a maintenance window: pick a time listed above, or mark the request as an emergency.'
        : '';
  }

  const form = h(
    'form',
    { id: 'request-form' },
    field('req-target', 'Target', target),
    info,
    field('req-protocol', 'Protocol', protocol),
    h(
      'fieldset',
      { class: 'start' },
      h('legend', {}, 'Start'),
      h('label', { class: 'inline', for: 'start-now' }, startNow, ' Now'),
      h('label', { class: 'inline', for: 'start-at' }, startAt, ' At'),
      start,
      h('span', { class: 'hint muted' }, ` your time (${browserTimeZone()})`),
    ),
    field('req-duration', 'Duration (minutes)', duration, durationHint),
    field('req-purpose', 'Purpose (what you will do, 10–500 characters)', purpose),
    field('req-ticket', 'Ticket (optional)', ticket),
    h('label', { class: 'inline', for: 'req-emergency' }, emergency, ' Emergency: outside the maintenance windows'),
    reasonBox,
    windowHint,
    error,
    h('p', {}, submit),
    me.totpEnrolled
      ? null
      : h(
          'p',
          { class: 'note' },
          'Sending needs a code from your authenticator: ',
          h('a', { href: '/security', 'data-nav': true }, 'set it up first'),
          '.',
        ),
  );
  for (const el of [startNow, startAt, start, duration, emergency]) el.addEventListener('input', update);
  for (const el of [startNow, startAt]) el.addEventListener('change', update);
  target.addEventListener('change', showTarget);

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.textContent = '';
    const startsAt = startAt.checked ? fromLocalInput(start.value) : undefined;
    if (startAt.checked && !startsAt) {
      error.textContent = 'Enter a start time, or choose "Now".';
      return;
    }
    const body = {
      targetId: target.value,
      protocol: protocol.value,
      ...(startsAt ? { startsAt } : {}),
      durationMinutes: Number(duration.value),
      purpose: purpose.value.trim(),
      ...(ticket.value.trim() ? { ticket: ticket.value.trim() } : {}),
      ...(emergency.checked ? { emergency: true, emergencyReason: reason.value.trim() } : {}),
    };
    submit.disabled = true;
    try {
      const view = await withStepUp(() => api<RequestView>('POST', '/api/requests', body));
      if (view) navigate(`/requests?created=${encodeURIComponent(view.id)}`);
      else error.textContent = 'Not sent: the verification was cancelled.';
    } catch (err) {
      error.textContent = err instanceof ApiError ? err.message : 'the request could not be sent';
    } finally {
      submit.disabled = false;
    }
  });
  card.append(form);
  showTarget();
}
