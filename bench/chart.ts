export interface ChartRow {
  name: string;
  ratio: number;
  better: 'higher' | 'lower';
}

/**
 * A horizontal bar chart of gateway/direct ratios as SVG, no dependencies: one bar per measure, a
 * line at 1.0 (as fast as direct) and the row's own axis direction written next to it.
 */
export function ratioChart(rows: ChartRow[], title: string): string {
  const label = (row: ChartRow): string => `${row.name} (${row.better} is better)`;
  // Labels are right-aligned against the bars: make room for the longest (~6.3 px a character at 12 px).
  const labelWidth = Math.max(330, 16 + Math.ceil(6.3 * Math.max(0, ...rows.map((row) => label(row).length))));
  const width = labelWidth + 430;
  const barArea = width - labelWidth - 90;
  const rowHeight = 26;
  const top = 40;
  const height = top + rows.length * rowHeight + 30;
  const max = Math.max(2, ...rows.map((row) => row.ratio));
  const x = (ratio: number): number => labelWidth + (ratio / max) * barArea;
  const escape = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const bars = rows.map((row, index) => {
    const y = top + index * rowHeight;
    const good = row.better === 'higher' ? row.ratio >= 0.9 : row.ratio <= 1.1;
    return [
      `<text x="${labelWidth - 8}" y="${y + 16}" text-anchor="end">${escape(label(row))}</text>`,
      `<rect x="${labelWidth}" y="${y + 4}" width="${Math.max(1, x(row.ratio) - labelWidth).toFixed(1)}" height="16" fill="${good ? '#3a7d44' : '#c0504d'}"/>`,
      `<text x="${(x(row.ratio) + 6).toFixed(1)}" y="${y + 16}">${row.ratio.toFixed(2)}×</text>`,
    ].join('');
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="14">${escape(title)}</text>`,
    ...bars,
    `<line x1="${x(1).toFixed(1)}" y1="${top - 4}" x2="${x(1).toFixed(1)}" y2="${height - 24}" stroke="#333" stroke-dasharray="4 3"/>`,
    `<text x="${x(1).toFixed(1)}" y="${height - 10}" text-anchor="middle">1.0 = same as direct</text>`,
    '</svg>',
    '',
  ].join('\n');
}
