// CSV for evidence packs (RFC 4180): every cell quoted when needed, and spreadsheet formulas defused.

/**
 * Why the apostrophe: spreadsheets run a cell that starts with = + - @ (or a tab / CR that hides one)
 * as a formula — `=HYPERLINK(...)` or DDE payloads typed by a vendor would execute on the assessor's
 * machine. A leading ' makes the cell plain text in Excel, LibreOffice and Sheets; the value stays readable.
 */
const FORMULA_START = /^[=+\-@\t\r]/;

export type Cell = string | number | boolean | null | undefined;

export function csvCell(value: Cell): string {
  if (value === null || value === undefined) return '';
  let s = typeof value === 'string' ? value : String(value);
  // Numbers we write ourselves (-1 never occurs, but a negative is still a number, not a formula).
  if (typeof value === 'string' && FORMULA_START.test(s)) s = `'${s}`;
  // Other control characters (terminal escapes in a captured command, NUL that truncates some readers)
  // are shown as \xNN: visible to the reader, inert in the sheet; audit.jsonl keeps the exact bytes.
  s = s.replace(
    /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
  return /[",\r\n]/.test(s) || s !== s.trim() ? `"${s.replaceAll('"', '""')}"` : s;
}

/** One CSV record with its CRLF line end (RFC 4180). */
export const csvRow = (cells: readonly Cell[]): string => `${cells.map(csvCell).join(',')}\r\n`;

/** A header row then one record per row, as Buffers for a stream (rows may arrive asynchronously). */
export async function* csvChunks<T>(
  header: readonly string[],
  rows: Iterable<T> | AsyncIterable<T>,
  toCells: (row: T) => Cell[],
): AsyncGenerator<Buffer> {
  // A UTF-8 BOM so spreadsheets do not read names with umlauts as Latin-1.
  yield Buffer.from(`\ufeff${csvRow(header)}`);
  let batch = '';
  for await (const row of rows) {
    batch += csvRow(toCells(row));
    if (batch.length >= 64 * 1024) {
      yield Buffer.from(batch);
      batch = '';
    }
  }
  if (batch) yield Buffer.from(batch);
}
