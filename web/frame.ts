// The page frame: navigation by role, who is signed in, sign-in and sign-out, and the page router.
import { api, loadMe, type Me } from './api.js';
import { clear, h } from './dom.js';
import { listenForAlerts } from './alerts.js';
import { showPendingCount } from './pending-count.js';
import { labelTables } from './table-labels.js';
import { allPages, matchPage, mayOpen } from './router.js';

export async function renderFrame(doc: Document): Promise<void> {
  const main = doc.getElementById('main')!;
  const nav = doc.getElementById('nav')!;
  const who = doc.getElementById('who')!;
  let me = await loadMe();
  labelTables(main);

  const menu = doc.getElementById('menu-toggle');
  // On a phone the navigation folds behind one button; a navigation closes it again.
  const setMenu = (open: boolean) => {
    menu?.setAttribute('aria-expanded', String(open));
    doc.body.classList.toggle('menu-open', open);
  };
  menu?.addEventListener('click', () => setMenu(menu.getAttribute('aria-expanded') !== 'true'));
  const navigate = (path: string) => {
    setMenu(false);
    if (path !== location.pathname + location.search) history.pushState(null, '', path);
    void show();
  };
  const refreshMe = async () => {
    me = await loadMe();
    if (!me) throw new Error('signed out');
    return me;
  };

  async function show(): Promise<void> {
    if (!me) {
      renderSignIn(main, nav, who);
      return;
    }
    renderNav(nav, me, navigate);
    renderWho(who, me);
    listenForAlerts(me, nav.closest('header') ?? doc.body);
    showPendingCount(me, nav);
    const found = matchPage(location.pathname);
    main.replaceChildren();
    if (!found) {
      main.append(h('section', { class: 'card' }, h('h1', {}, 'Not found'), h('p', {}, 'There is no such page.')));
      return;
    }
    if (!mayOpen(found.page, me)) {
      main.append(
        h('section', { class: 'card' }, h('h1', {}, 'Not allowed'), h('p', {}, 'Your role does not open this page.')),
      );
      return;
    }
    doc.title = `${found.page.title} · Gatehouse`;
    await found.page.render({
      me,
      main,
      params: found.params,
      query: new URLSearchParams(location.search),
      navigate,
      refreshMe,
    });
  }

  window.addEventListener('popstate', () => void show());
  // Internal links navigate without a reload; anything else (downloads, /auth/*) is left alone.
  doc.addEventListener('click', (ev) => {
    const a = (ev.target as Element | null)?.closest?.('a[data-nav]');
    if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey) return;
    ev.preventDefault();
    navigate(a.getAttribute('href') ?? '/');
  });
  await show();
}

function renderSignIn(main: HTMLElement, nav: HTMLElement, who: HTMLElement): void {
  nav.replaceChildren();
  who.replaceChildren();
  const returnTo = location.pathname + location.search;
  const href = `/auth/login?returnTo=${encodeURIComponent(returnTo)}`;
  clear(
    main,
    h(
      'section',
      { class: 'card', id: 'signin' },
      h('h1', {}, 'Sign in to Gatehouse'),
      h('p', {}, 'Vendor access to this site is approved, time-boxed and recorded.'),
      h('a', { class: 'button', id: 'signin-button', href }, 'Sign in'),
    ),
  );
}

function renderNav(nav: HTMLElement, me: Me, navigate: (p: string) => void): void {
  void navigate;
  const links = allPages()
    .filter((p) => p.nav && mayOpen(p, me))
    .map((p) =>
      h('a', { href: p.path, 'data-nav': true, 'aria-current': location.pathname === p.path ? 'page' : null }, p.title),
    );
  clear(nav, ...links);
}

function renderWho(who: HTMLElement, me: Me): void {
  const logout = h('button', { class: 'secondary', id: 'signout' }, 'Sign out');
  logout.addEventListener('click', async () => {
    await api('POST', '/auth/logout').catch(() => undefined);
    location.assign('/');
  });
  clear(
    who,
    h('span', { id: 'who-name' }, me.name, ' ', h('span', { class: 'who-roles' }, `(${me.roles.join(', ')})`)),
    ' ',
    logout,
  );
}
