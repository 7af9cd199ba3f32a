/**
 * SVG plots written by hand (no plotting dependency): for one scenario and size, the latency
 * distribution (CDF, log-scale time) and the pods that reached the goal over time, one line per
 * implementation.
 */

/** One implementation's data for a plot. */
export interface PlotSeries {
  label: string;
  /** Latencies in ms (any order). */
  latenciesMs: number[];
  /** Times in ms since the run's first request at which each pod reached the goal, sorted. */
  doneAtMs: number[];
}

const COLORS: Record<string, string> = {
  ours: '#d62728',
  'ours-tuned': '#ff7f0e',
  'ours-traced': '#9467bd',
  'ours-baseline': '#8c564b',
  go: '#1f77b4',
  'go-tuned': '#17becf',
  ceiling: '#7f7f7f',
};
const FALLBACK_COLORS = ['#2ca02c', '#9467bd', '#8c564b', '#e377c2'];

const WIDTH = 960;
const HEIGHT = 380;
const PANEL = { top: 48, bottom: 52, left: 64, right: 24, gap: 72 };

function escapeXml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] as string);
}

/** Keeps at most `max` points of a step curve, always keeping the first and last. */
function thin<T>(points: T[], max: number): T[] {
  if (points.length <= max) return points;
  const step = points.length / max;
  const result: T[] = [];
  for (let i = 0; i < max; i++) result.push(points[Math.floor(i * step)] as T);
  result.push(points[points.length - 1] as T);
  return result;
}

function niceLinearTicks(max: number, count = 5): number[] {
  if (max <= 0) return [0];
  const raw = max / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let v = 0; v <= max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(6)));
  return ticks;
}

function formatMs(ms: number): string {
  if (ms >= 1_000_000) return `${(ms / 60_000).toFixed(0)} min`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 1)} s`;
  return `${ms} ms`;
}

/** Renders the two-panel SVG. */
export function renderPlot(title: string, goal: string, series: PlotSeries[]): string {
  const panelWidth = (WIDTH - PANEL.left * 2 - PANEL.right - PANEL.gap) / 2;
  const panelHeight = HEIGHT - PANEL.top - PANEL.bottom;
  const x1 = PANEL.left;
  const x2 = PANEL.left + panelWidth + PANEL.gap + PANEL.left / 2;
  const y0 = PANEL.top;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
  );
  const colorOf = (label: string, index: number) => COLORS[label] ?? FALLBACK_COLORS[index % FALLBACK_COLORS.length];

  // Left: CDF of latency on a log time axis (the implementations differ by orders of magnitude).
  const all = series.flatMap((s) => s.latenciesMs).filter((v) => v > 0);
  const lo = all.length > 0 ? 10 ** Math.floor(Math.log10(Math.max(1, Math.min(...all)))) : 1;
  const hi = all.length > 0 ? 10 ** Math.ceil(Math.log10(Math.max(...all, lo * 10))) : 10_000;
  const lx = (ms: number) =>
    x1 + ((Math.log10(Math.max(ms, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * panelWidth;
  const ly = (fraction: number) => y0 + panelHeight - fraction * panelHeight;
  parts.push(
    `<text x="${x1 + panelWidth / 2}" y="${y0 - 10}" text-anchor="middle">Latency distribution (${escapeXml(goal)})</text>`,
    `<rect x="${x1}" y="${y0}" width="${panelWidth}" height="${panelHeight}" fill="none" stroke="#999"/>`,
  );
  for (let decade = lo; decade <= hi; decade *= 10) {
    const x = lx(decade);
    parts.push(
      `<line x1="${x}" y1="${y0}" x2="${x}" y2="${y0 + panelHeight}" stroke="#eee"/>`,
      `<text x="${x}" y="${y0 + panelHeight + 16}" text-anchor="middle">${formatMs(decade)}</text>`,
    );
  }
  for (const fraction of [0, 0.25, 0.5, 0.75, 0.9, 1]) {
    const y = ly(fraction);
    parts.push(
      `<line x1="${x1}" y1="${y}" x2="${x1 + panelWidth}" y2="${y}" stroke="#eee"/>`,
      `<text x="${x1 - 6}" y="${y + 4}" text-anchor="end">${Math.round(fraction * 100)}%</text>`,
    );
  }
  parts.push(`<text x="${x1 + panelWidth / 2}" y="${HEIGHT - 12}" text-anchor="middle">latency (log scale)</text>`);
  series.forEach((s, index) => {
    const sorted = [...s.latenciesMs].sort((a, b) => a - b);
    if (sorted.length === 0) return;
    // The fraction is of the pods that reached the goal; a run that timed out says so in its label.
    const points = thin(
      sorted.map((v, i) => [lx(v), ly((i + 1) / sorted.length)] as const),
      600,
    );
    const d = points.map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${x.toFixed(1)},${y.toFixed(1)}`).join('');
    parts.push(
      `<path d="M${lx(sorted[0] as number).toFixed(1)},${ly(0)}${d.replace(/^M/, 'L')}" fill="none" stroke="${colorOf(s.label, index)}" stroke-width="2"/>`,
    );
  });

  // Right: pods that reached the goal over time.
  const maxT = Math.max(1000, ...series.map((s) => s.doneAtMs.at(-1) ?? 0));
  const maxN = Math.max(1, ...series.map((s) => s.doneAtMs.length));
  const rx = (ms: number) => x2 + (ms / maxT) * panelWidth;
  const ry = (n: number) => y0 + panelHeight - (n / maxN) * panelHeight;
  parts.push(
    `<text x="${x2 + panelWidth / 2}" y="${y0 - 10}" text-anchor="middle">Pods over time</text>`,
    `<rect x="${x2}" y="${y0}" width="${panelWidth}" height="${panelHeight}" fill="none" stroke="#999"/>`,
  );
  for (const seconds of niceLinearTicks(maxT / 1000)) {
    const x = rx(seconds * 1000);
    parts.push(
      `<line x1="${x}" y1="${y0}" x2="${x}" y2="${y0 + panelHeight}" stroke="#eee"/>`,
      `<text x="${x}" y="${y0 + panelHeight + 16}" text-anchor="middle">${seconds}</text>`,
    );
  }
  for (const n of niceLinearTicks(maxN, 4)) {
    const y = ry(n);
    parts.push(
      `<line x1="${x2}" y1="${y}" x2="${x2 + panelWidth}" y2="${y}" stroke="#eee"/>`,
      `<text x="${x2 - 6}" y="${y + 4}" text-anchor="end">${n}</text>`,
    );
  }
  parts.push(
    `<text x="${x2 + panelWidth / 2}" y="${HEIGHT - 12}" text-anchor="middle">seconds since the first request</text>`,
  );
  series.forEach((s, index) => {
    if (s.doneAtMs.length === 0) return;
    const points = thin(
      s.doneAtMs.map((t, i) => [rx(t), ry(i + 1)] as const),
      600,
    );
    const d = points.map(([x, y]) => `L${x.toFixed(1)},${y.toFixed(1)}`).join('');
    parts.push(
      `<path d="M${rx(0).toFixed(1)},${ry(0).toFixed(1)}${d}" fill="none" stroke="${colorOf(s.label, index)}" stroke-width="2"/>`,
    );
  });

  // Legend.
  series.forEach((s, index) => {
    const x = x1 + 8 + index * 150;
    const y = y0 + 14;
    parts.push(
      `<rect x="${x}" y="${y - 9}" width="14" height="4" fill="${colorOf(s.label, index)}"/>`,
      `<text x="${x + 20}" y="${y - 4}">${escapeXml(s.label)}</text>`,
    );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
