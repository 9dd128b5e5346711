// Spend per day as an inline SVG bar chart: no chart library and no script; each bar carries
// a <title> so hovering (or a screen reader) gives the exact day, cost and request count.

import { html, type SafeHtml } from "../html";
import { formatCount, formatUsd } from "./format";

export interface DayBar {
  /** `YYYY-MM-DD` (UTC). */
  day: string;
  costNanoUsd: number;
  requests: number;
}

const WIDTH = 720;
const HEIGHT = 220;
const PAD = { top: 16, right: 8, bottom: 24, left: 84 }; // room for a nine-digit USD label

export function spendChart(bars: DayBar[]): SafeHtml {
  const totalNanoUsd = bars.reduce((sum, bar) => sum + bar.costNanoUsd, 0);
  if (bars.length === 0 || bars.every((bar) => bar.requests === 0)) {
    return html`<p class="muted" id="spend-chart">No usage in this range.</p>`;
  }
  const maxNanoUsd = Math.max(1, ...bars.map((bar) => bar.costNanoUsd));
  const plotWidth = WIDTH - PAD.left - PAD.right;
  const plotHeight = HEIGHT - PAD.top - PAD.bottom;
  const slot = plotWidth / bars.length;
  const barWidth = Math.max(1, slot * 0.8);
  const rects = bars.map((bar, i) => {
    const height = (bar.costNanoUsd / maxNanoUsd) * plotHeight;
    const x = PAD.left + i * slot + (slot - barWidth) / 2;
    const y = PAD.top + plotHeight - height;
    return html`<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${barWidth.toFixed(1)}" height="${Math.max(height, bar.requests > 0 ? 1 : 0).toFixed(1)}" fill="#2e5bd8" data-day="${bar.day}"><title>${bar.day}: ${formatUsd(bar.costNanoUsd)} (${formatCount(bar.requests)} requests)</title></rect>`;
  });
  const baseline = PAD.top + plotHeight;
  return html`<svg class="chart" id="spend-chart" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="Spend per day from ${bars[0]!.day} to ${bars.at(-1)!.day}, total ${formatUsd(totalNanoUsd)}">
    <line x1="${PAD.left}" y1="${PAD.top}" x2="${WIDTH - PAD.right}" y2="${PAD.top}" stroke="#d9dde5" stroke-dasharray="3 3"/>
    <line x1="${PAD.left}" y1="${baseline}" x2="${WIDTH - PAD.right}" y2="${baseline}" stroke="#9aa3b2"/>
    <text x="${PAD.left - 6}" y="${PAD.top + 4}" text-anchor="end">${formatUsd(maxNanoUsd)}</text>
    <text x="${PAD.left - 6}" y="${baseline}" text-anchor="end">$0</text>
    ${rects}
    <text x="${PAD.left}" y="${HEIGHT - 6}">${bars[0]!.day}</text>
    <text x="${WIDTH - PAD.right}" y="${HEIGHT - 6}" text-anchor="end">${bars.at(-1)!.day}</text>
  </svg>`;
}

/** Every UTC day in [fromMs, toMs), with zero for days without usage (capped to a year). */
export function fillDays(rows: Map<string, Omit<DayBar, "day">>, fromMs: number, toMs: number): DayBar[] {
  const days: DayBar[] = [];
  for (let at = fromMs; at < toMs && days.length < 366; at += 86_400_000) {
    const day = new Date(at).toISOString().slice(0, 10);
    days.push({ day, ...(rows.get(day) ?? { costNanoUsd: 0, requests: 0 }) });
  }
  return days;
}
