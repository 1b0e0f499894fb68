// The card a search page lists its results in: an error line, a summary, one table and a pager, with ids the
// page's tests and styles name (`<name>-error`, `-summary`, `-table`, `-body`).
import { clear, h } from './dom.js';

export interface ResultsCard {
  card: HTMLElement;
  error: HTMLElement;
  summary: HTMLElement;
  tbody: HTMLElement;
  pager: HTMLElement;
  /** One page of results: its rows, "11–20 of 35 <noun>, newest first." (or `none`), and Newer/Older links. */
  show(rows: readonly HTMLElement[], page: ResultsPage): void;
}

export interface ResultsPage {
  offset: number;
  size: number;
  total: number;
  /** "commands", "requests", "sessions". */
  noun: string;
  /** What the summary says when nothing matches. */
  none: string;
  /** The page's own address at another offset (its filters kept). */
  hrefAt(offset: number): string;
}

export function resultsCard(name: string, columns: readonly string[]): ResultsCard {
  const error = h('p', { class: 'error', role: 'alert', id: `${name}-error` });
  const summary = h('p', { class: 'muted', id: `${name}-summary` });
  const tbody = h('tbody', { id: `${name}-body` });
  const pager = h('p', { class: 'pager' });
  const head = h('thead', {}, h('tr', {}, ...columns.map((c) => h('th', { scope: 'col' }, c))));
  const card = h('section', { class: 'card' }, error, summary, h('table', { id: `${name}-table` }, head, tbody), pager);
  const show = (rows: readonly HTMLElement[], p: ResultsPage) => {
    clear(tbody, ...rows);
    summary.textContent =
      p.total === 0 ? p.none : `${p.offset + 1}–${p.offset + rows.length} of ${p.total} ${p.noun}, newest first.`;
    const link = (o: number, label: string, id: string) =>
      h('a', { href: p.hrefAt(o), 'data-nav': true, id: `${name}-${id}` }, label);
    clear(
      pager,
      p.offset > 0 ? link(Math.max(0, p.offset - p.size), '← Newer', 'newer') : null,
      ' ',
      p.offset + p.size < p.total ? link(p.offset + p.size, 'Older →', 'older') : null,
    );
  };
  return { card, error, summary, tbody, pager, show };
}
