// @ts-check
// Text a user wrote, drawn as sent: the pieces of visible.js, each invisible character a marked code point, and
// the length. The report queue's evidence and reporters' words, and appeals, all show text this way.

import { el } from './dom.js';
import { t } from './i18n.js';
import { measure, pieces } from './visible.js';

/**
 * Text as sent (a verified message, a reporter's or an appellant's words): in pieces, invisible characters
 * marked, and its length. Its direction is its own first letter's (`dir=auto`), isolated from the console's words
 * (a right-to-left message reads right to left, its marks in place, and moves nothing around it), and a long
 * unbroken line wraps inside its box (console.css).
 * @param {string} text
 */
export function asSent(text) {
  const shown = el(
    'span',
    { class: 'as-sent', dir: 'auto', testid: 'as-sent' },
    pieces(text).map((p) =>
      'text' in p ? p.text : el('mark', { class: 'invisible', title: p.name, testid: 'invisible' }, p.code),
    ),
  );
  const { characters, bytes, invisible } = measure(text);
  const length = `${characters} ${t('characters')} · ${bytes} ${t('bytes')}` + (invisible ? ` · ${invisible} ${t('invisibleCount')}` : '');
  return el('div', { class: 'evidence' }, shown, el('small', { class: 'length', testid: 'length' }, length));
}
