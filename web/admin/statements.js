// @ts-check
// The statements-of-reasons export for a date range (GET /v1/admin/statements, admins only, NDJSON): how many,
// and the file to download for the DSA Transparency Database.

import { callText } from './api.js';
import { el } from './dom.js';
import { t } from './i18n.js';

export async function statementsView() {
  const today = new Date().toISOString().slice(0, 10);
  const from = el('input', { type: 'date', value: today, testid: 'statements-from', 'aria-label': t('from') });
  const to = el('input', { type: 'date', value: today, testid: 'statements-to', 'aria-label': t('to') });
  const result = el('div', { testid: 'statements-result', 'aria-live': 'polite' });
  const run = async (event) => {
    event.preventDefault();
    const lines = await callText('GET', `/v1/admin/statements?from=${from.value}&to=${to.value}`);
    const count = lines.split('\n').filter((line) => line.trim()).length;
    const blob = new Blob([lines], { type: 'application/x-ndjson' });
    const name = `statements-${from.value}-${to.value}.ndjson`;
    const link = el('a', { href: URL.createObjectURL(blob), download: name, testid: 'statements-download' }, t('download'));
    result.replaceChildren(el('p', {}, `${count} ${t('exported')} `, link));
  };
  return el(
    'form',
    { class: 'statements', onsubmit: run },
    el('label', {}, t('from'), ' ', from),
    el('label', {}, t('to'), ' ', to),
    el('button', { type: 'submit', testid: 'statements-export' }, t('export')),
    result,
  );
}
