// @ts-check
// How the console writes a figure for a person: a span of time as its two largest units ("1 h 30 min", not 5400 s),
// a rate with one decimal, a ratio as a percentage, in the console's language. Null (nothing measured) is a dash:
// "no calls" is not "0 % connected".

import { language, t } from './i18n.js';

/** @type {[string, number][]} */
const UNITS = [
  ['unitDay', 86_400],
  ['unitHour', 3_600],
  ['unitMinute', 60],
  ['unitSecond', 1],
];

/** `secs` as at most its two largest units (`2 d 3 h`, `1 h 30 min`, `45 s`), a zero second one left out. */
export function duration(secs) {
  if (secs === null || secs === undefined) return '—';
  const whole = Math.max(0, Math.round(secs));
  const first = UNITS.findIndex(([, size]) => whole >= size);
  if (first === -1) return `0 ${t('unitSecond')}`;
  const [unit, size] = UNITS[first];
  const shown = [`${Math.floor(whole / size)} ${t(unit)}`];
  const next = UNITS[first + 1];
  const rest = next ? Math.floor((whole % size) / next[1]) : 0;
  if (rest > 0) shown.push(`${rest} ${t(next[0])}`);
  return shown.join(' ');
}

/** Seconds from `iso` to now, for an age ("the oldest open report: 3 h 5 min"). */
export function since(iso, now = Date.now()) {
  return iso ? (now - Date.parse(iso)) / 1000 : null;
}

export function decimal(value) {
  if (value === null || value === undefined) return '—';
  return value.toLocaleString(language(), { maximumFractionDigits: 1 });
}

/** A ratio in 0..1 as a whole percentage (`%90` in Turkish, `90%` in English). */
export function percent(ratio) {
  if (ratio === null || ratio === undefined) return '—';
  return ratio.toLocaleString(language(), { style: 'percent', maximumFractionDigits: 0 });
}
