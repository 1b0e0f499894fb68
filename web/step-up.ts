// The step-up prompt: sensitive actions need a fresh TOTP code; this asks for one and retries the action.
import { ApiError, api } from './api.js';
import { h } from './dom.js';

/** Asks for a code in a modal dialog; resolves true once the server accepted a step-up. */
export function promptStepUp(reason = 'This action needs a fresh verification code.'): Promise<boolean> {
  return new Promise((resolve) => {
    const input = h('input', {
      id: 'stepup-code',
      name: 'code',
      inputmode: 'numeric',
      autocomplete: 'one-time-code',
      pattern: '[0-9]{6}',
      maxlength: 6,
      required: true,
      'aria-label': 'Verification code',
    });
    const error = h('p', { class: 'error', role: 'alert', id: 'stepup-error' });
    const dialog = h('dialog', { id: 'stepup-dialog', 'aria-labelledby': 'stepup-title' });
    const close = (ok: boolean) => {
      dialog.close();
      dialog.remove();
      resolve(ok);
    };
    const form = h(
      'form',
      { method: 'dialog' },
      h('h2', { id: 'stepup-title' }, 'Verify it is you'),
      h('p', {}, reason, ' Enter the 6-digit code from your authenticator app.'),
      h('label', { for: 'stepup-code' }, 'Verification code'),
      input,
      error,
      h(
        'p',
        {},
        h('button', { type: 'submit', id: 'stepup-submit' }, 'Verify'),
        ' ',
        h('button', { type: 'button', class: 'secondary', onclick: () => close(false) }, 'Cancel'),
      ),
    );
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      error.textContent = '';
      try {
        await api('POST', '/api/me/step-up', { code: input.value.trim() });
        close(true);
      } catch (err) {
        error.textContent = err instanceof ApiError ? err.message : 'verification failed';
        input.select();
      }
    });
    dialog.append(form);
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
  });
}

/** Runs `action`; if the server answers `stepup_required`, prompts once and runs it again. */
export async function withStepUp<T>(action: () => Promise<T>): Promise<T | undefined> {
  try {
    return await action();
  } catch (err) {
    if (!(err instanceof ApiError) || err.code !== 'stepup_required') throw err;
    if (!(await promptStepUp())) return undefined;
    return action();
  }
}
