// @ts-check
// Text as it was sent, with what a reader cannot see made visible (docs/admin.md, "The report queue"): a verified
// message is evidence exactly as the reported user's client sent it, so a leading U+FEFF, a U+0000, a bidi
// override that reorders what follows, or a zero-width space hiding a word must be seen, not rendered away.
// Pure: no DOM here (sent.js draws the pieces), so node tests it directly.

/** Names for the invisible characters a moderator meets most; any other is shown by its code point. */
const NAMES = new Map([
  [0x0000, 'NUL'],
  [0x0009, 'TAB'],
  [0x000a, 'LF'],
  [0x000d, 'CR'],
  [0x00ad, 'SOFT HYPHEN'],
  [0x061c, 'ARABIC LETTER MARK'],
  [0x180e, 'MONGOLIAN VOWEL SEPARATOR'],
  [0x200b, 'ZERO WIDTH SPACE'],
  [0x200c, 'ZERO WIDTH NON-JOINER'],
  [0x200d, 'ZERO WIDTH JOINER'],
  [0x200e, 'LEFT-TO-RIGHT MARK'],
  [0x200f, 'RIGHT-TO-LEFT MARK'],
  [0x202a, 'LEFT-TO-RIGHT EMBEDDING'],
  [0x202b, 'RIGHT-TO-LEFT EMBEDDING'],
  [0x202c, 'POP DIRECTIONAL FORMATTING'],
  [0x202d, 'LEFT-TO-RIGHT OVERRIDE'],
  [0x202e, 'RIGHT-TO-LEFT OVERRIDE'],
  [0x2060, 'WORD JOINER'],
  [0x2066, 'LEFT-TO-RIGHT ISOLATE'],
  [0x2067, 'RIGHT-TO-LEFT ISOLATE'],
  [0x2068, 'FIRST STRONG ISOLATE'],
  [0x2069, 'POP DIRECTIONAL ISOLATE'],
  [0xfeff, 'ZERO WIDTH NO-BREAK SPACE (BOM)'],
]);

/** Whether a code point draws nothing (or reorders what does): controls, format characters, bidi controls. @param {number} cp */
export function invisible(cp) {
  return (
    cp < 0x20 ||
    (cp >= 0x7f && cp <= 0x9f) ||
    NAMES.has(cp) ||
    (cp >= 0x2061 && cp <= 0x2064) ||
    (cp >= 0xfff9 && cp <= 0xfffb) ||
    (cp >= 0xe0000 && cp <= 0xe007f)
  );
}

/** `U+FEFF`: four hex digits at least, as Unicode writes them. @param {number} cp */
export function codePoint(cp) {
  return `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * The text in pieces: runs of visible text, and each invisible character on its own, with its code point and name.
 * @param {string} text
 * @returns {Array<{text: string} | {code: string, name: string}>}
 */
export function pieces(text) {
  /** @type {Array<{text: string} | {code: string, name: string}>} */
  const out = [];
  let run = '';
  for (const ch of text) {
    const cp = /** @type {number} */ (ch.codePointAt(0));
    if (!invisible(cp)) {
      run += ch;
      continue;
    }
    if (run) out.push({ text: run });
    run = '';
    out.push({ code: codePoint(cp), name: NAMES.get(cp) ?? 'invisible character' });
  }
  if (run) out.push({ text: run });
  return out;
}

/** How long the text is as sent: characters (code points), UTF-8 bytes, and how many of them draw nothing. @param {string} text */
export function measure(text) {
  const chars = [...text];
  return {
    characters: chars.length,
    bytes: new TextEncoder().encode(text).length,
    invisible: chars.filter((ch) => invisible(/** @type {number} */ (ch.codePointAt(0)))).length,
  };
}
