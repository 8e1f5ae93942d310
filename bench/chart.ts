/**
 * The run's summary as a hand-written SVG chart (no dependency), written next to the JSON: one row of
 * panels per metric (median ops/s, p99 latency, CPU per request and peak RSS of the process under test), one panel per
 * workload, one bar per target. Every panel has its own y axis, since workloads differ by orders of
 * magnitude (`pipe` against `large`), and every bar carries its value, so the chart reads without the
 * tables. Pure function over the summaries; run.ts writes the file.
 */
import type { Summary } from './report.ts';

interface Metric {
  readonly title: string;
  readonly unit: string;
  readonly value: (s: Summary) => number | undefined;
  /** Whisker (min - max over rounds), where the summary has one. */
  readonly range?: (s: Summary) => readonly [number, number] | undefined;
  /** Why a target has no bar (direct has no proxy). */
  readonly missing: (s: Summary) => string;
}

const METRICS: readonly Metric[] = [
  {
    title: 'Throughput, median over rounds (whisker: min - max)',
    unit: 'requests/s',
    value: (s) => (s.runs > 0 ? s.opsPerSec.median : undefined),
    range: (s) => (s.runs > 1 ? [s.opsPerSec.min, s.opsPerSec.max] : undefined),
    missing: () => 'no run',
  },
  {
    title: 'p99 latency, median over rounds',
    unit: 'µs',
    value: (s) => (s.runs > 0 ? s.p99Us : undefined),
    missing: () => 'no run',
  },
  {
    title: 'CPU per request of the process under test (proxy or server), median',
    unit: 'CPU µs / request',
    value: (s) => s.cpuUsPerOp,
    missing: (s) => (s.runs > 0 && s.measuredRole === undefined ? 'n/a' : 'no run'),
  },
  {
    title: 'Peak RSS of the process under test (VmHWM, summed over its processes), median',
    unit: 'MB',
    value: (s) => (s.peakRssBytes === undefined ? undefined : s.peakRssBytes / 1048576),
    missing: (s) => (s.runs > 0 && s.measuredRole === undefined ? 'n/a' : 'no run'),
  },
];

/** Colours by target position; distinguishable for the common colour-vision deficiencies (Okabe-Ito). */
const COLORS = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#F0E442', '#000000'];

const PANEL_W = 290;
const PANEL_H = 230;
const PLOT_LEFT = 58;
const PLOT_RIGHT = 12;
const PLOT_TOP = 30;
const PLOT_BOTTOM = 46;
const ROW_TITLE_H = 26;
const MARGIN = 20;
/** Title block above the notes; the notes, wrapped, and the legend follow. */
const TITLE_H = 46;
const NOTE_LINE_H = 14;
const LEGEND_H = 30;
/** Average width of a character of the 11 px note font, for wrapping. */
const NOTE_CHAR_W = 6.1;

/** Splits `text` at spaces into lines of at most `width` characters (a longer word gets its own line). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') lines.push(line);
  return lines;
}

function esc(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;');
}

/** Compact number for labels: 1.23M, 456k, 12.3k, 789, 45.6, 3.21. */
export function compact(n: number): string {
  const a = Math.abs(n);
  if (a >= 1e6) return `${(n / 1e6).toFixed(a >= 1e7 ? 1 : 2)}M`;
  if (a >= 1e4) return `${(n / 1e3).toFixed(a >= 1e5 ? 0 : 1)}k`;
  if (a >= 100) return Math.round(n).toLocaleString('en-US');
  if (a >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

/** Tick label: whole units where the step allows, k/M only for large axes (µs read better in full). */
function tickLabel(v: number, step: number, top: number): string {
  if (v === 0) return '0';
  const [div, suffix] = top >= 2e6 ? [1e6, 'M'] : top >= 2e4 ? [1e3, 'k'] : [1, ''];
  const s = step / div;
  const decimals = Number.isInteger(s) ? 0 : Number.isInteger(s * 10) ? 1 : 2;
  const n = v / div;
  return `${decimals === 0 ? Math.round(n).toLocaleString('en-US') : n.toFixed(decimals)}${suffix}`;
}

/** A "nice" axis: step of 1, 2 or 5 x 10^k giving about four intervals up to at least `max`. */
function niceAxis(max: number): { top: number; step: number } {
  if (!(max > 0)) return { top: 1, step: 0.25 };
  const raw = max / 4;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  return { top: Math.ceil(max / step - 1e-9) * step, step };
}

function text(x: number, y: number, content: string, attrs: Record<string, string | number> = {}): string {
  const a = Object.entries(attrs)
    .map(([k, v]) => ` ${k}="${esc(String(v))}"`)
    .join('');
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}"${a}>${esc(content)}</text>`;
}

function panel(
  metric: Metric,
  workload: string,
  targets: readonly string[],
  summaries: readonly Summary[],
  x0: number,
  y0: number,
): string[] {
  const out: string[] = [];
  const w = PANEL_W - PLOT_LEFT - PLOT_RIGHT;
  const h = PANEL_H - PLOT_TOP - PLOT_BOTTOM;
  const left = x0 + PLOT_LEFT;
  const top = y0 + PLOT_TOP;
  const bottom = top + h;
  const rows = targets.map((t) => summaries.find((s) => s.workload === workload && s.target === t));
  const values = rows.map((s) => (s === undefined ? undefined : metric.value(s)));
  const highs = rows.map((s, i) => {
    const r = s === undefined ? undefined : metric.range?.(s);
    return r?.[1] ?? values[i] ?? 0;
  });
  const { top: axisTop, step } = niceAxis(Math.max(0, ...highs.filter(Number.isFinite)));
  const yOf = (v: number): number => bottom - (h * v) / axisTop;

  out.push(`<g class="panel">`);
  out.push(text(x0 + PANEL_W / 2, y0 + 16, workload, { 'text-anchor': 'middle', class: 'ptitle' }));
  // Grid and y tick labels.
  for (let v = 0; v <= axisTop + step / 2; v += step) {
    const y = yOf(v);
    out.push(
      `<line x1="${left}" y1="${y.toFixed(1)}" x2="${left + w}" y2="${y.toFixed(1)}" class="${v === 0 ? 'axis' : 'grid'}"/>`,
    );
    out.push(text(left - 5, y + 3.5, tickLabel(v, step, axisTop), { 'text-anchor': 'end', class: 'tick' }));
  }
  out.push(`<line x1="${left}" y1="${top}" x2="${left}" y2="${bottom}" class="axis"/>`);
  out.push(
    text(x0 + 13, top + h / 2, metric.unit, {
      'text-anchor': 'middle',
      class: 'ylabel',
      transform: `rotate(-90 ${x0 + 13} ${(top + h / 2).toFixed(1)})`,
    }),
  );
  // Bars, value labels, x labels.
  const slot = w / Math.max(1, targets.length);
  const barW = Math.min(46, slot * 0.7);
  targets.forEach((t, i) => {
    const cx = left + slot * (i + 0.5);
    const s = rows[i];
    const v = values[i];
    const color = COLORS[i % COLORS.length];
    if (v !== undefined && Number.isFinite(v)) {
      const y = yOf(v);
      out.push(
        `<rect x="${(cx - barW / 2).toFixed(1)}" y="${y.toFixed(1)}" width="${barW.toFixed(1)}" height="${(bottom - y).toFixed(1)}" fill="${color}"><title>${esc(`${workload} / ${t}: ${compact(v)} ${metric.unit}`)}</title></rect>`,
      );
      const r = s === undefined ? undefined : metric.range?.(s);
      let labelY = y - 4;
      if (r !== undefined) {
        const [lo, hi] = r;
        const yl = yOf(lo);
        const yh = yOf(hi);
        out.push(
          `<path d="M${cx.toFixed(1)} ${yl.toFixed(1)}V${yh.toFixed(1)}M${(cx - 5).toFixed(1)} ${yl.toFixed(1)}h10M${(cx - 5).toFixed(1)} ${yh.toFixed(1)}h10" class="whisker"/>`,
        );
        labelY = Math.min(labelY, yh - 4);
      }
      out.push(text(cx, labelY, compact(v), { 'text-anchor': 'middle', class: 'value' }));
    } else {
      const why = s === undefined ? 'not run' : metric.missing(s);
      out.push(text(cx, bottom - 6, why, { 'text-anchor': 'middle', class: 'na' }));
    }
    out.push(
      text(cx, bottom + 14, t, {
        'text-anchor': targets.length > 4 ? 'end' : 'middle',
        class: 'xlabel',
        ...(targets.length > 4
          ? { transform: `rotate(-35 ${cx.toFixed(1)} ${(bottom + 14).toFixed(1)})` }
          : {}),
      }),
    );
  });
  out.push(`</g>`);
  return out;
}

export interface ChartInfo {
  /** First line of the header, e.g. "moxi.ts benchmark, 2026-11-24T01:00:00Z (commit abc123)". */
  readonly title: string;
  /** Further header lines: machine, pinning, plan. */
  readonly notes: readonly string[];
  readonly workloads: readonly string[];
  readonly targets: readonly string[];
}

/** The SVG document for `summaries` (medians per workload and target). */
export function renderChart(summaries: readonly Summary[], info: ChartInfo): string {
  const cols = Math.max(1, info.workloads.length);
  // Wide enough for the row titles even with one workload.
  const width = Math.max(MARGIN * 2 + cols * PANEL_W, 720);
  const rowH = ROW_TITLE_H + PANEL_H;
  const notes = info.notes.flatMap((n) => wrap(n, Math.floor((width - 2 * MARGIN) / NOTE_CHAR_W)));
  const headerH = TITLE_H + notes.length * NOTE_LINE_H + LEGEND_H;
  const height = headerH + METRICS.length * rowH + MARGIN;
  const out: string[] = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif">`,
    `<style>`,
    `.title{font-size:16px;font-weight:600;fill:#111}.note{font-size:11px;fill:#444}`,
    `.rtitle{font-size:13px;font-weight:600;fill:#222}.ptitle{font-size:12px;font-weight:600;fill:#222}`,
    `.tick{font-size:10px;fill:#555}.xlabel{font-size:10.5px;fill:#222}.ylabel{font-size:10.5px;fill:#555}`,
    `.value{font-size:10.5px;fill:#111}.na{font-size:10px;fill:#888;font-style:italic}.legend{font-size:11.5px;fill:#222}`,
    `.grid{stroke:#e4e4e4;stroke-width:1}.axis{stroke:#888;stroke-width:1}.whisker{stroke:#333;stroke-width:1.2;fill:none}`,
    `</style>`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    text(MARGIN, MARGIN + 8, info.title, { class: 'title' }),
  ];
  notes.forEach((n, i) => {
    out.push(text(MARGIN, TITLE_H + i * NOTE_LINE_H, n, { class: 'note' }));
  });
  // Legend: one swatch per target, in run order.
  let lx = MARGIN;
  const ly = headerH - 12;
  info.targets.forEach((t, i) => {
    out.push(`<rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/>`);
    out.push(text(lx + 17, ly, t, { class: 'legend' }));
    lx += 17 + 7.5 * t.length + 22;
  });
  METRICS.forEach((m, r) => {
    const y = headerH + r * rowH;
    out.push(text(MARGIN, y + 17, m.title, { class: 'rtitle' }));
    info.workloads.forEach((wl, c) => {
      out.push(...panel(m, wl, info.targets, summaries, MARGIN + c * PANEL_W, y + ROW_TITLE_H));
    });
  });
  out.push(`</svg>`, '');
  return out.join('\n');
}
