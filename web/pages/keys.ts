// SSH keys (/keys): the public keys that identify this user at the SSH front — list, add a .pub line, delete.
import { ApiError, api } from '../api.js';
import { clear, h } from '../dom.js';
import { fmtDateTime } from '../format.js';
import { registerPage } from '../router.js';
import { withStepUp } from '../step-up.js';

interface KeyView {
  id: string;
  fingerprint: string;
  algorithm: string;
  publicKey: string;
  comment: string;
  createdAt: string;
}

registerPage({
  path: '/keys',
  title: 'SSH keys',
  roles: ['vendor'],
  nav: true,
  async render({ main }) {
    const tbody = h('tbody', { id: 'keys-body' });
    const empty = h('p', { class: 'muted', id: 'keys-empty', hidden: true }, 'No key registered yet.');
    const listError = h('p', { class: 'error', role: 'alert', id: 'keys-list-error' });
    const line = h('textarea', {
      id: 'key-line',
      name: 'publicKey',
      rows: 3,
      required: true,
      spellcheck: 'false',
      placeholder: 'ssh-ed25519 AAAA… you@laptop',
    });
    const comment = h('input', { id: 'key-comment', name: 'comment', maxlength: 200 });
    const error = h('p', { class: 'error', role: 'alert', id: 'key-error' });
    const add = h('button', { type: 'submit', id: 'key-add' }, 'Add key');
    const form = h(
      'form',
      { id: 'key-form' },
      h('h2', {}, 'Add a key'),
      h('label', { for: 'key-line' }, 'Public key (one line: the content of your .pub file)'),
      line,
      h(
        'p',
        { class: 'hint muted' },
        'Never paste a private key. No key yet? Create one with ',
        h('code', {}, 'ssh-keygen -t ed25519'),
        '.',
      ),
      h('label', { for: 'key-comment' }, 'Name (optional; default: the key’s comment)'),
      comment,
      error,
      h('p', {}, add),
    );
    main.append(
      h(
        'section',
        { class: 'card', id: 'keys' },
        h('h1', {}, 'SSH keys'),
        h(
          'p',
          {},
          'The gateway knows you by these keys when you connect with ssh, PuTTY or WinSCP; it then asks for your verification code.',
        ),
        listError,
        empty,
        h(
          'table',
          {},
          h(
            'thead',
            {},
            h('tr', {}, ...['Name', 'Type', 'Fingerprint', 'Added', ''].map((c) => h('th', { scope: 'col' }, c))),
          ),
          tbody,
        ),
      ),
      h('section', { class: 'card' }, form),
    );

    const row = (k: KeyView): HTMLElement => {
      const del = h(
        'button',
        {
          type: 'button',
          class: 'secondary',
          id: `key-delete-${k.id}`,
          'aria-label': `Delete key ${k.comment || k.fingerprint}`,
        },
        'Delete',
      );
      const tr = h(
        'tr',
        { id: `key-${k.id}` },
        h('td', {}, k.comment || '—'),
        h('td', {}, k.algorithm),
        h('td', { class: 'mono' }, k.fingerprint),
        h('td', {}, fmtDateTime(k.createdAt)),
        h('td', {}, del),
      );
      del.addEventListener('click', () => {
        const yes = h('button', { type: 'button', class: 'danger', id: `key-delete-confirm-${k.id}` }, 'Yes, delete');
        const no = h(
          'button',
          { type: 'button', class: 'secondary', onclick: () => confirmBox.replaceWith(del) },
          'Keep',
        );
        const confirmBox = h('span', {}, yes, ' ', no);
        yes.addEventListener('click', async () => {
          yes.disabled = true;
          try {
            await withStepUp(() => api('DELETE', `/api/me/keys/${encodeURIComponent(k.id)}`));
            await load();
          } catch (err) {
            listError.textContent = err instanceof ApiError ? err.message : 'could not delete the key';
            yes.disabled = false;
          }
        });
        del.replaceWith(confirmBox);
      });
      return tr;
    };

    async function load() {
      try {
        const { keys } = await api<{ keys: KeyView[] }>('GET', '/api/me/keys');
        clear(tbody, ...keys.map(row));
        empty.hidden = keys.length > 0;
        (tbody.parentElement as HTMLElement).hidden = keys.length === 0;
        listError.textContent = '';
      } catch (err) {
        listError.textContent = err instanceof ApiError ? err.message : 'could not load your keys';
      }
    }

    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      error.textContent = '';
      // A private key never leaves the browser: it is cleared from the field, not sent, and the vendor is told
      // plainly that it must now be treated as exposed (it was pasted into a web page).
      if (looksPrivate(line.value)) {
        line.value = '';
        error.textContent =
          'That is a PRIVATE key. It was not sent, and the field is cleared. Treat that key as exposed now: make a new key pair ' +
          '(ssh-keygen -t ed25519), stop using the old one wherever it is accepted, and paste only the .pub file’s one line here.';
        return;
      }
      add.disabled = true;
      try {
        const body = {
          publicKey: line.value.trim(),
          ...(comment.value.trim() ? { comment: comment.value.trim() } : {}),
        };
        const added = await withStepUp(() => api<KeyView>('POST', '/api/me/keys', body));
        if (added) {
          line.value = '';
          comment.value = '';
          await load();
        }
      } catch (err) {
        error.textContent = err instanceof ApiError ? err.message : 'could not add the key';
      } finally {
        add.disabled = false;
      }
    });
    await load();
  },
});

/** PEM, OpenSSH and PuTTY private key forms: what must never be posted. */
function looksPrivate(text: string): boolean {
  return /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----|PuTTY-User-Key-File-\d+:|^\s*Private-Lines:/m.test(text);
}
