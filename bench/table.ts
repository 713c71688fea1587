/**
 * Writes rows as aligned columns to stdout: the first column left-aligned, the others right-aligned
 * (numbers), two spaces apart; with `rule`, a line of dashes under the first row.
 */
export function printTable(rows: string[][], options: { rule?: boolean } = {}): void {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  for (const [index, row] of rows.entries()) {
    process.stdout.write(row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ') + '\n');
    if (index === 0 && options.rule) process.stdout.write(widths.map((width) => '-'.repeat(width)).join('  ') + '\n');
  }
}
