// The terminate form of the live views (terminal and remote desktop): a reason the vendor reads, a step-up if
// needed, then POST /api/sessions/:id/terminate. The view's socket usually closes first and says how it ended.
import { api } from './api.js';
import { h } from './dom.js';
import { withStepUp } from './step-up.js';

export function liveTerminateForm(sessionId: string, onTerminated: () => void): HTMLFormElement {
  const reason = h('input', {
    id: 'terminate-reason',
    name: 'reason',
    maxlength: 500,
    required: true,
    placeholder: 'Why (the vendor sees this)',
  });
  const error = h('p', { class: 'error', role: 'alert', id: 'terminate-error' });
  const form = h(
    'form',
    { id: 'terminate-form', class: 'inline' },
    h('label', { for: 'terminate-reason' }, 'Terminate with reason '),
    reason,
    ' ',
    h('button', { type: 'submit', id: 'terminate', class: 'danger' }, 'Terminate'),
    error,
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.textContent = '';
    try {
      const done = await withStepUp(() =>
        api('POST', `/api/sessions/${encodeURIComponent(sessionId)}/terminate`, { reason: reason.value.trim() }),
      );
      if (done !== undefined) onTerminated();
    } catch (err) {
      error.textContent = err instanceof Error ? err.message : 'could not terminate';
    }
  });
  return form;
}
