// Client-side pages: each registers its path, title and the roles that see it in the navigation.
import type { Me } from './api.js';
import { h } from './dom.js';

export type Role = Me['roles'][number];

export interface PageContext {
  me: Me;
  main: HTMLElement;
  params: Record<string, string>;
  query: URLSearchParams;
  navigate(path: string): void;
  /** Re-reads /api/me (after enrolment or step-up) and re-renders the frame. */
  refreshMe(): Promise<Me>;
}

export interface Page {
  /** `/requests/:id` style pattern. */
  path: string;
  title: string;
  /** Roles that may open it; absent = any signed-in user. */
  roles?: Role[];
  /** Shown in the navigation bar. */
  nav?: boolean;
  render(ctx: PageContext): Promise<void> | void;
}

const pages: Page[] = [];
/** Declarations of pages whose module has not loaded yet (registerLazyPage); the module's own page replaces them. */
const lazy = new WeakSet<Page>();

export function registerPage(page: Page): void {
  const i = pages.findIndex((p) => p.path === page.path && lazy.has(p));
  if (i >= 0) pages[i] = page;
  else pages.push(page);
}
export const allPages = (): readonly Page[] => pages;

/**
 * A page whose module (with the heavy library it needs: xterm.js, asciinema-player, guacamole-common-js) is
 * fetched on first visit, so the other pages never download it. `meta` lets the frame match, authorise and
 * title the page before the module is there; it must say what the module's registerPage says (checked on load).
 */
export function registerLazyPage(meta: Omit<Page, 'render'>, load: () => Promise<unknown>): void {
  const declared: Page = {
    ...meta,
    async render(ctx) {
      const loading = h('p', { class: 'muted', role: 'status' }, 'Loading…');
      ctx.main.append(loading);
      let page: Page;
      try {
        await load();
        const found = pages.find((p) => p.path === meta.path && !lazy.has(p));
        if (!found) throw new Error(`the module did not register ${meta.path}`);
        if (found.title !== meta.title || String(found.roles) !== String(meta.roles) || found.nav !== meta.nav)
          throw new Error(`the declaration of ${meta.path} disagrees with its module`);
        page = found;
      } catch (err) {
        // Typically a gateway upgraded under an open tab (the old chunk names are gone) or a broken link.
        loading.replaceWith(
          h(
            'section',
            { class: 'card', id: 'page-load-error' },
            h('h1', {}, 'This page could not be loaded'),
            h(
              'p',
              { class: 'error', role: 'alert' },
              `Its code did not arrive from the gateway (${err instanceof Error ? err.message : String(err)}). The gateway may have been upgraded: reload to continue.`,
            ),
            h('button', { type: 'button', onclick: () => location.reload() }, 'Reload'),
          ),
        );
        return;
      }
      // Navigated elsewhere while the module loaded: the next page owns main now.
      if (!loading.isConnected) return;
      loading.remove();
      await page.render(ctx);
    },
  };
  lazy.add(declared);
  pages.push(declared);
}

export function matchPage(pathname: string): { page: Page; params: Record<string, string> } | undefined {
  for (const page of pages) {
    const names: string[] = [];
    const pattern = page.path.replace(/:[a-zA-Z]+/g, (m) => {
      names.push(m.slice(1));
      return '([^/]+)';
    });
    const m = new RegExp(`^${pattern}/?$`).exec(pathname);
    if (!m) continue;
    const params: Record<string, string> = {};
    names.forEach((n, i) => {
      params[n] = decodeURIComponent(m[i + 1] ?? '');
    });
    return { page, params };
  }
  return undefined;
}

export const mayOpen = (page: Page, me: Me): boolean => !page.roles || page.roles.some((r) => me.roles.includes(r));
