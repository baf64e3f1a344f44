/**
 * Formats rows as a plain text table with a header line, columns padded to the widest cell.
 * Dates are shown as ISO 8601, null as empty. Ends with a newline; "(none)" for no rows.
 */
export function table(rows: readonly object[], columns: string[]): string {
  if (rows.length === 0) return '(none)\n';
  const cell = (v: unknown) => (v instanceof Date ? v.toISOString() : v === null || v === undefined ? '' : String(v)).replace(/[\r\n\t]/g, ' ');
  const cells = rows.map((r) => columns.map((c) => cell((r as Record<string, unknown>)[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => [...row[i]!].length)));
  const line = (row: string[]) => row.map((v, i) => v + ' '.repeat(widths[i]! - [...v].length)).join('  ').trimEnd();
  return [line(columns), ...cells.map(line)].join('\n') + '\n';
}

/**
 * The `flags` cell of a task row: `unreadable` and `automated:<kind>` (RFC 3834 loop protection:
 * bounce, auto-submitted, list or bulk), comma-separated; empty for an ordinary message.
 */
export function taskFlags(t: { unreadable: boolean; automated: string | null }): string {
  return [t.unreadable ? 'unreadable' : '', t.automated ? `automated:${t.automated}` : ''].filter(Boolean).join(', ');
}
