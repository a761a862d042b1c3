// @ts-check
// Where the console is, in its URL: `#/<screen>` (`#/reports`), or `#/<screen>/<id>` for one report
// (`#/reports/812`) or one user (`#/users/4211`). Each place is an entry of the tab's history, so back, forward,
// a reload and a link someone pasted all land on it. The fragment keeps it all in the one page the server serves
// at /admin/ (and out of its logs).
//
// console.js shows a place; a screen that moves on its own (a user found by a search) records the place it moved
// to with `note`, so that the history follows without the place being loaded a second time.

/** @typedef {{screen: string, id: string | null}} Place */

/** @type {(place: Place) => void} */
let show = () => {};
/** The fragment last shown or noted: a `hashchange` or `popstate` to it is the console's own doing. */
let shown = /** @type {string | null} */ (null);

/** The place the URL names; an empty or malformed fragment names none (`screen` empty). @returns {Place} */
export function here() {
  const [, screen = '', id = null] = location.hash.match(/^#\/([a-z]+)(?:\/(\d+))?$/) ?? [];
  return { screen, id };
}

/** The fragment of a place. @param {string} screen @param {string | number | null} [id] */
export function placeOf(screen, id = null) {
  return id === null ? `#/${screen}` : `#/${screen}/${id}`;
}

/**
 * Shows every place the URL comes to (back, forward, a link followed, a fragment typed) with `handler`, and the
 * one it names now.
 * @param {(place: Place) => void} handler
 */
export function follow(handler) {
  show = handler;
  addEventListener('hashchange', moved);
  addEventListener('popstate', moved);
}

/** Shows the place the URL names now, whatever was shown before (a sign-in, a change of language). */
export function showHere() {
  shown = location.hash;
  show(here());
}

function moved() {
  if (location.hash === shown) return;
  showHere();
}

/**
 * Goes to `fragment` as a new history entry and shows it; the place already shown is shown again, read afresh
 * (a screen's button pressed twice), without a second entry.
 * @param {string} fragment
 */
export function go(fragment) {
  if (location.hash !== fragment) history.pushState(null, '', fragment);
  showHere();
}

/** Records `fragment`, which the screen already shows, as a new history entry. @param {string} fragment */
export function note(fragment) {
  if (location.hash === fragment) return;
  history.pushState(null, '', fragment);
  shown = fragment;
}

/** Puts `fragment` in place of the URL's (a screen the role may not open, shown as the first one). @param {string} fragment */
export function correct(fragment) {
  if (location.hash === fragment) return;
  history.replaceState(null, '', fragment);
  shown = fragment;
}
