// Client-side pages: each registers its path, title and the roles that see it in the navigation.
import type { Me } from './api.js';

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
export const registerPage = (page: Page) => pages.push(page);
export const allPages = (): readonly Page[] => pages;

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

export const mayOpen = (page: Page, me: Me): boolean =>
  !page.roles || page.roles.some((r) => me.roles.includes(r));
