// A hand-written horizontal bar chart (no dependencies): one bar per target.
const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

export function barChart (title: string, bars: Array<{ label: string, value: number | null, note?: string }>): string {
  const width = 860
  const labelW = 240
  const barH = 22
  const gap = 8
  const top = 40
  const height = top + bars.length * (barH + gap) + 10
  const max = Math.max(1e-9, ...bars.map(b => b.value ?? 0))
  const room = width - labelW - 250 // leaves space for the value and a loss note
  const rows = bars.map((b, i) => {
    const y = top + i * (barH + gap)
    const w = b.value === null ? 0 : Math.max(1, Math.round(room * b.value / max))
    const fill = b.label.startsWith('Swallow') ? '#2a7ab0' : '#8a8a8a'
    return `  <text x="${labelW - 8}" y="${y + barH * 0.7}" text-anchor="end">${esc(b.label)}</text>\n` +
      `  <rect x="${labelW}" y="${y}" width="${w}" height="${barH}" fill="${fill}"/>\n` +
      `  <text x="${labelW + w + 6}" y="${y + barH * 0.7}">${b.value === null ? 'n/a' : formatNumber(b.value)}` +
      `${b.note === undefined || b.note === '' ? '' : `<tspan fill="#c0392b"> (${esc(b.note)})</tspan>`}</text>`
  })
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="13">`,
    `  <rect width="${width}" height="${height}" fill="white"/>`,
    `  <text x="10" y="24" font-size="15" font-weight="bold">${esc(title)}</text>`,
    ...rows,
    '</svg>',
    ''
  ].join('\n')
}

export function formatNumber (v: number | null): string {
  if (v === null) return 'n/a'
  const a = Math.abs(v)
  if (a >= 1000 || Number.isInteger(v)) return Math.round(v).toLocaleString('en')
  if (a >= 100) return v.toFixed(0)
  if (a >= 10) return v.toFixed(1)
  return v.toFixed(2)
}
