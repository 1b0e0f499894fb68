// The card a search page lists its results in: an error line, a summary, one table and a pager, with ids the
// page's tests and styles name (`<name>-error`, `-summary`, `-table`, `-body`).
import { h } from './dom.js';

export interface ResultsCard {
  card: HTMLElement;
  error: HTMLElement;
  summary: HTMLElement;
  tbody: HTMLElement;
  pager: HTMLElement;
}

export function resultsCard(name: string, columns: readonly string[]): ResultsCard {
  const error = h('p', { class: 'error', role: 'alert', id: `${name}-error` });
  const summary = h('p', { class: 'muted', id: `${name}-summary` });
  const tbody = h('tbody', { id: `${name}-body` });
  const pager = h('p', { class: 'pager' });
  const head = h('thead', {}, h('tr', {}, ...columns.map((c) => h('th', { scope: 'col' }, c))));
  const card = h('section', { class: 'card' }, error, summary, h('table', { id: `${name}-table` }, head, tbody), pager);
  return { card, error, summary, tbody, pager };
}
