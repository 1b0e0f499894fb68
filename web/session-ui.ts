// Shared pieces of the session pages: status badges, durations, offsets, and the terminate control (reason + step-up).
import { ApiError, api } from './api.js';
import { h } from './dom.js';
import { fmtDuration } from './format.js';
import type { SessionDetail, SessionView } from './session-types.js';
import { withStepUp } from './step-up.js';

import { endReasonText } from '../gateway/core/end-reasons.js';

export { END_REASON_KEYS, endReasonText } from '../gateway/core/end-reasons.js';

/** 95.5 → "01:35", 3725 → "1:02:05". */
export function fmtOffset(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const p = (n: number) => String(n).padStart(2, '0');
  const hours = Math.floor(s / 3600);
  return hours > 0
    ? `${hours}:${p(Math.floor((s % 3600) / 60))}:${p(s % 60)}`
    : `${p(Math.floor(s / 60))}:${p(s % 60)}`;
}

/** Seconds as the list shows them: "45 s" under a minute, else "1 h 5 min". */
export const fmtSeconds = (seconds: number): string =>
  seconds < 60 ? `${Math.round(seconds)} s` : fmtDuration(seconds / 60);

/** "live" (green), or how it ended; data-live for styles and tests. */
/** Where a live session is watched: terminals in the terminal live view, RDP through a read-only guacd join. */
export const watchPath = (s: Pick<SessionView, 'id' | 'protocol'>): string =>
  s.protocol === 'rdp' ? `/rdp/watch/${encodeURIComponent(s.id)}` : `/sessions/${encodeURIComponent(s.id)}/watch`;

export function statusBadge(s: SessionView, id?: string): HTMLElement {
  return s.live
    ? h('span', { class: 'state state-active badge-live', id, 'data-live': 'true' }, 'live')
    : h(
        'span',
        { class: `state state-ended end-${s.endReason ?? 'unknown'}`, id, 'data-live': 'false' },
        endReasonText(s.endReason),
      );
}

/** The recording's seal as the list shows it (the replay page re-checks the file itself). */
export function sealText(s: SessionView): string {
  if (!s.recording) return 'no recording';
  if (!s.recording.sha256) return s.live ? 'recording (live)' : 'not sealed';
  return s.recording.incomplete ? 'sealed, incomplete' : 'sealed';
}

/**
 * "Terminate" for a live session the viewer may end: asks for a reason (the vendor sees it on their
 * terminal), then calls the API with a step-up if one is needed. `onDone` gets the ended session.
 */
export function terminateControl(s: SessionView, onDone: (s: SessionDetail) => void): HTMLElement {
  const wrap = h('div', { class: 'terminate', id: `terminate-box-${s.id}` });
  const error = h('p', { class: 'error', role: 'alert', id: `terminate-error-${s.id}` });
  const button = h('button', { type: 'button', class: 'danger', id: `terminate-${s.id}` }, 'Terminate');
  const showButton = () => wrap.replaceChildren(button, error);
  button.addEventListener('click', () => {
    const input = h('textarea', { id: `terminate-reason-${s.id}`, rows: 2, required: true, maxlength: 500 });
    const submit = h(
      'button',
      { type: 'submit', class: 'danger', id: `terminate-submit-${s.id}` },
      'Terminate with this reason',
    );
    const back = h('button', { type: 'button', class: 'secondary', onclick: showButton }, 'Back');
    const form = h(
      'form',
      { class: 'reason-form' },
      h('label', { for: input.id }, 'Why terminate? (the vendor sees this)'),
      input,
      h('p', {}, submit, ' ', back),
      error,
    );
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      error.textContent = '';
      submit.disabled = back.disabled = true;
      try {
        const body = { reason: input.value.trim() };
        const r = await withStepUp(() =>
          api<{ closed: boolean; session: SessionDetail }>(
            'POST',
            `/api/sessions/${encodeURIComponent(s.id)}/terminate`,
            body,
          ),
        );
        if (r) onDone(r.session);
        else error.textContent = 'Not done: the verification was cancelled.';
      } catch (err) {
        error.textContent = err instanceof ApiError ? err.message : 'terminate failed';
      } finally {
        submit.disabled = back.disabled = false;
      }
    });
    wrap.replaceChildren(form);
    input.focus();
  });
  showButton();
  return wrap;
}

/** Query parameters without the empty ones, for API calls and shareable page URLs. */
export function queryOf(fields: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) if (v) q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}
