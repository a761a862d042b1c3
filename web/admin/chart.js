// @ts-check
// A chart of daily counts, drawn by uPlot (vendor/, a kept library as a file: no CDN, no hand-drawn canvas), with
// the same numbers as a table under a disclosure: a canvas says nothing to a screen reader or to a search of the
// page, and a moderator may want the exact figure of a day.

import { el } from './dom.js';
import { t } from './i18n.js';
import vendored from './vendor/uPlot.esm.js';

/**
 * What the charts use of uPlot, whose JavaScript comes without types.
 * @type {{new (options: object, data: number[][], target: HTMLElement): object, tzDate(date: Date, zone: string): Date}}
 */
const uPlot = /** @type {any} */ (vendored);

const WIDTH = 440;
const HEIGHT = 180;

/** The dashboard's days are UTC days: drawn as such, or a moderator west of Greenwich sees each a day early. */
const utc = (stamp) => uPlot.tzDate(new Date(stamp * 1000), 'Etc/UTC');

/** Counts are whole: the y axis never shows 0.5 of a report. */
const WHOLE = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 100_000, 1_000_000];

function options(series) {
  // The page's text colour, so the axes read in the dark scheme too (uPlot's default is black).
  const ink = getComputedStyle(document.documentElement).color;
  const axis = { stroke: ink, grid: { stroke: '#8883' }, ticks: { stroke: '#8883' } };
  // Days as the API names them (MM-DD of the UTC day), the same in both languages and in the table below.
  const days = (_u, ticks) => ticks.map((stamp) => new Date(stamp * 1000).toISOString().slice(5, 10));
  return {
    width: WIDTH,
    height: HEIGHT,
    tzDate: utc,
    // The legend names the series; the values of a day are in the table, not in a legend that follows the mouse.
    legend: { live: false },
    scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
    axes: [{ ...axis, values: days }, { ...axis, incrs: WHOLE, values: (_u, ticks) => ticks.map(String) }],
    series: [
      { label: t('day') },
      ...series.map((s) => ({ label: t(s.key), stroke: s.color, width: 2, points: { size: 5, fill: s.color } })),
    ],
  };
}

function numbers(days, series) {
  const head = el('tr', {}, el('th', {}, t('day')), series.map((s) => el('th', {}, t(s.key))));
  const cells = (d) => series.map((s) => el('td', { 'data-key': s.key }, String(d[s.key])));
  const day = (d) => el('tr', { 'data-day': d.day }, el('td', {}, d.day), cells(d));
  return el(
    'details',
    {},
    el('summary', {}, t('asNumbers')),
    el('table', { class: 'history' }, el('thead', {}, head), el('tbody', {}, days.map(day))),
  );
}

/**
 * A figure titled by the i18n key `id`: one line per series (`{key, color}`, `key` a field of each day of GET
 * /v1/admin/dashboard and its label's i18n key) over `days`, oldest first.
 */
export function dailyChart(id, days, series) {
  const plot = el('div', { class: 'plot', role: 'img', 'aria-label': t(id) });
  const stamps = days.map((d) => Date.parse(`${d.day}T00:00:00Z`) / 1000);
  new uPlot(options(series), [stamps, ...series.map((s) => days.map((d) => d[s.key]))], plot);
  const caption = el('figcaption', {}, t(id));
  return el('figure', { class: 'chart', testid: 'chart', 'data-chart': id }, caption, plot, numbers(days, series));
}
