// TOTP enrolment: the server makes the secret; the page shows it as a QR code and as text, then
// confirms with a first code. After confirmation the secret is never shown again.
import { ApiError, api } from '../api.js';
import { clear, h } from '../dom.js';
import { registerPage } from '../router.js';

interface Enrolment {
  otpauthUri: string;
  qrSvg: string;
  secret?: string;
}

registerPage({
  path: '/security',
  title: 'Security',
  nav: true,
  render({ me, main, navigate, refreshMe }) {
    const card = h('section', { class: 'card', id: 'totp-card' });
    main.append(card);
    if (me.totpEnrolled) {
      clear(
        card,
        h('h1', {}, 'Authenticator'),
        h('p', { class: 'ok', id: 'totp-enrolled' }, 'Your authenticator is set up.'),
        h('p', { class: 'muted' }, 'Lost it? Ask an administrator to reset it; you will then set it up again.'),
      );
      return;
    }
    const error = h('p', { class: 'error', role: 'alert', id: 'totp-error' });
    const start = h('button', { id: 'totp-start' }, 'Create my authenticator secret');
    start.addEventListener('click', async () => {
      error.textContent = '';
      try {
        showEnrolment(await api<Enrolment>('POST', '/api/me/totp/enroll'));
      } catch (err) {
        error.textContent = err instanceof ApiError ? err.message : 'enrolment failed';
      }
    });
    clear(
      card,
      h('h1', {}, 'Set up your authenticator'),
      h('p', {}, 'Use any TOTP app (6 digits, 30 seconds). You will enter a code from it to confirm.'),
      start,
      error,
    );

    function showEnrolment(e: Enrolment) {
      // The SVG is shown as an image (data: URL), never inserted as markup.
      const qr = h('img', {
        id: 'totp-qr',
        alt: 'QR code for your authenticator app',
        width: 220,
        height: 220,
        src: `data:image/svg+xml;base64,${btoa(e.qrSvg)}`,
      });
      const code = h('input', {
        id: 'totp-code',
        inputmode: 'numeric',
        autocomplete: 'one-time-code',
        maxlength: 6,
        pattern: '[0-9]{6}',
        required: true,
      });
      const form = h(
        'form',
        { id: 'totp-confirm' },
        h('label', { for: 'totp-code' }, 'Code from your app'),
        code,
        ' ',
        h('button', { type: 'submit' }, 'Confirm'),
      );
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        error.textContent = '';
        try {
          await api('POST', '/api/me/totp/confirm', { code: code.value.trim() });
          await refreshMe();
          navigate('/security');
        } catch (err) {
          error.textContent = err instanceof ApiError ? err.message : 'confirmation failed';
        }
      });
      clear(
        card,
        h('h1', {}, 'Scan this code'),
        qr,
        e.secret
          ? h(
              'p',
              {},
              'Or type this secret: ',
              h('code', { id: 'totp-secret' }, e.secret.replace(/(.{4})/g, '$1 ').trim()),
            )
          : null,
        form,
        error,
      );
      code.focus();
    }
  },
});
