// Languages a profile may list: the ISO 639-1 codes the server takes (a copy of `CODES` in
// src/domain/languages.rs; tests/browser/lobby_choices.test.js fails when the two differ), the short list the
// picker offers first, and each language's name in the UI's language: from i18n.js for the common ones, from the
// browser's `Intl.DisplayNames` for the rest, the bare code where the browser has no name.

import { getLang, t } from './i18n.js';

/** How many languages a profile may list (the server refuses more with `invalid_languages`). */
export const MAX_LANGUAGES = 3;

/** Offered first, as chips: what people in Türkiye and its neighbourhood and diaspora speak most. */
export const COMMON = ['tr', 'en', 'ku', 'ar', 'de', 'ru', 'fr', 'es', 'az', 'fa', 'it', 'nl'];

/** Every current ISO 639-1 code, alphabetical. */
export const CODES = [
  'aa', 'ab', 'ae', 'af', 'ak', 'am', 'an', 'ar', 'as', 'av', 'ay', 'az', 'ba', 'be', 'bg', 'bi', 'bm', 'bn', 'bo',
  'br', 'bs', 'ca', 'ce', 'ch', 'co', 'cr', 'cs', 'cu', 'cv', 'cy', 'da', 'de', 'dv', 'dz', 'ee', 'el', 'en', 'eo',
  'es', 'et', 'eu', 'fa', 'ff', 'fi', 'fj', 'fo', 'fr', 'fy', 'ga', 'gd', 'gl', 'gn', 'gu', 'gv', 'ha', 'he', 'hi',
  'ho', 'hr', 'ht', 'hu', 'hy', 'hz', 'ia', 'id', 'ie', 'ig', 'ii', 'ik', 'io', 'is', 'it', 'iu', 'ja', 'jv', 'ka',
  'kg', 'ki', 'kj', 'kk', 'kl', 'km', 'kn', 'ko', 'kr', 'ks', 'ku', 'kv', 'kw', 'ky', 'la', 'lb', 'lg', 'li', 'ln',
  'lo', 'lt', 'lu', 'lv', 'mg', 'mh', 'mi', 'mk', 'ml', 'mn', 'mr', 'ms', 'mt', 'my', 'na', 'nb', 'nd', 'ne', 'ng',
  'nl', 'nn', 'no', 'nr', 'nv', 'ny', 'oc', 'oj', 'om', 'or', 'os', 'pa', 'pi', 'pl', 'ps', 'pt', 'qu', 'rm', 'rn',
  'ro', 'ru', 'rw', 'sa', 'sc', 'sd', 'se', 'sg', 'si', 'sk', 'sl', 'sm', 'sn', 'so', 'sq', 'sr', 'ss', 'st', 'su',
  'sv', 'sw', 'ta', 'te', 'tg', 'th', 'ti', 'tk', 'tl', 'tn', 'to', 'tr', 'ts', 'tt', 'tw', 'ty', 'ug', 'uk', 'ur',
  'uz', 've', 'vi', 'vo', 'wa', 'wo', 'xh', 'yi', 'yo', 'za', 'zh', 'zu',];

const displayNames = new Map();

/** The name of `code` in the UI's language. */
export function languageName(code) {
  const key = `language.${code}`;
  const known = t(key);
  if (known !== key) return known;
  const lang = getLang();
  if (!displayNames.has(lang)) {
    let names = null;
    try {
      names = new Intl.DisplayNames([lang], { type: 'language', fallback: 'none' });
    } catch {
      // A browser without Intl.DisplayNames shows the codes.
    }
    displayNames.set(lang, names);
  }
  return displayNames.get(lang)?.of(code) ?? code;
}
