// The `ssh` line a vendor runs for an approved grant, with a copy button, and the gateway's host key to check it
// against on first connect (fingerprint and a known_hosts line), so a changed key is noticed, not clicked past.
import type { Me } from './api.js';
import { h } from './dom.js';

/** A button that copies `text`; says so (or says to select it by hand where the clipboard is not allowed). */
export function copyButton(text: string, id: string): HTMLButtonElement {
  const b = h('button', { type: 'button', class: 'secondary copy', id }, 'Copy');
  b.addEventListener('click', () => {
    void navigator.clipboard
      ?.writeText(text)
      .then(() => (b.textContent = 'Copied'))
      .catch(() => (b.textContent = 'Select and copy'));
    if (!navigator.clipboard) b.textContent = 'Select and copy';
  });
  return b;
}

export function sshBlock(me: Me, targetId: string): HTMLElement {
  const host = location.hostname;
  const port = me.sshPort;
  const line = `ssh -p ${port ?? '<port>'} ${targetId}@${host}`;
  const keys = me.sshHostKeys ?? [];
  const hostPart = port === 22 || port === null ? host : `[${host}]:${port}`;
  const known = keys.map((k) => `${hostPart} ${k.publicKey}`).join('\n');
  return h(
    'div',
    { class: 'ssh-block', id: 'ssh-block' },
    h('p', {}, 'Or connect with your registered SSH key:'),
    h('p', { class: 'copy-line' }, h('code', { id: 'ssh-line' }, line), ' ', copyButton(line, 'copy-ssh')),
    keys.length
      ? h(
          'details',
          { id: 'host-key' },
          h('summary', {}, `Gateway host key: ${keys.map((k) => k.fingerprint).join(', ')}`),
          h(
            'p',
            { class: 'muted' },
            'On first connect, ssh shows this fingerprint: connect only if it matches. Or add this line to ~/.ssh/known_hosts beforehand:',
          ),
          h(
            'p',
            { class: 'copy-line' },
            h('code', { id: 'known-hosts-line' }, known),
            ' ',
            copyButton(known, 'copy-known-hosts'),
          ),
        )
      : null,
  );
}
