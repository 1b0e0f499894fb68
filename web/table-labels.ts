// Labels every table cell with its column heading (data-label), so that on a phone, where each row is shown as a
// block (styles.css), every value still says what it is. Pages build tables freely; this follows them.
function label(table: HTMLTableElement): void {
  const heads = [...table.querySelectorAll('thead th')].map((th) => th.textContent?.trim() ?? '');
  if (heads.length === 0) return;
  for (const row of table.querySelectorAll('tbody tr')) {
    [...row.children].forEach((cell, i) => {
      const name = heads[i];
      if (name && cell.getAttribute('data-label') !== name) cell.setAttribute('data-label', name);
    });
  }
}

/** Labels the tables under `root` now and whenever rows are added. */
export function labelTables(root: HTMLElement): void {
  let queued = false;
  const run = () => {
    queued = false;
    for (const t of root.querySelectorAll('table')) label(t);
  };
  new MutationObserver(() => {
    if (queued) return;
    queued = true;
    queueMicrotask(run);
  }).observe(root, { childList: true, subtree: true });
}
