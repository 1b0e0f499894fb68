// One request (/requests/:id): its full context and history, live, with the actions the viewer may take.
import { ApiError, api } from '../api.js';
import { clear, h } from '../dom.js';
import { fmtDateTime } from '../format.js';
import { every, live } from '../live.js';
import { actionBar, contextList, formStateOf, stateBadge } from '../request-ui.js';
import type { RequestView } from '../request-types.js';
import { registerPage } from '../router.js';
import { sshBlock } from '../ssh-line.js';

registerPage({
  path: '/requests/:id',
  title: 'Request',
  async render({ me, main, params }) {
    const id = params.id ?? '';
    const card = h('section', { class: 'card', id: 'request-detail' }, h('p', { class: 'muted' }, 'Loading…'));
    main.append(card);
    let view: RequestView | undefined;

    function render(r: RequestView) {
      view = r;
      const keep = formStateOf(card);
      clear(
        card,
        h('h1', {}, `Access to ${r.target.name}`),
        h('p', {}, stateBadge(r, 'detail-state')),
        r.grantId ? h('p', { class: 'muted' }, 'Grant ', h('code', {}, r.grantId)) : null,
        contextList(r),
        h(
          'p',
          { class: 'muted' },
          `Requested ${fmtDateTime(r.createdAt)} · last change ${fmtDateTime(r.updatedAt)} · `,
          h('code', {}, r.id),
        ),
        r.state === 'approved' && r.requester.id === me.id && r.protocol === 'ssh' && r.grantId
          ? h(
              'div',
              { class: 'note' },
              h(
                'a',
                { href: `/connect/${encodeURIComponent(r.grantId)}`, id: 'open-terminal', class: 'button' },
                'Open browser terminal',
              ),
              sshBlock(me, r.target.id),
            )
          : null,
        r.state === 'approved' && r.requester.id === me.id && r.protocol === 'rdp' && r.grantId
          ? h(
              'p',
              { class: 'note' },
              h(
                'a',
                { href: `/rdp/${encodeURIComponent(r.grantId)}`, id: 'open-rdp', class: 'button' },
                'Open remote desktop',
              ),
            )
          : null,
        actionBar(r, render, keep),
      );
    }
    async function load() {
      try {
        render(await api<RequestView>('GET', `/api/requests/${encodeURIComponent(id)}`));
      } catch (err) {
        clear(
          card,
          h('h1', {}, 'Request'),
          h(
            'p',
            { class: 'error', role: 'alert', id: 'detail-error' },
            err instanceof ApiError && err.status === 404
              ? 'There is no such request, or it is not yours to see.'
              : err instanceof Error
                ? err.message
                : 'could not load',
          ),
        );
      }
    }
    live(card, {
      onChange: (ev) => {
        if (ev.request.id === id) render(ev.request);
      },
      onOpen: () => void load(),
    });
    every(card, 30_000, () => {
      if (view) document.getElementById('detail-state')?.replaceWith(stateBadge(view, 'detail-state'));
    });
    await load();
  },
});
