// @ts-check
// The moderators' console (docs/admin.md, "The console"): served by the binary at /admin/, plain modules and no
// build step, as the web client. A staff account signs in as anyone does; the console shows the screens its role
// may use (a moderator never sees an admin's), and the server refuses the rest anyway. Keyboard: every control
// is a native button, link or input, in reading order. Each screen, report and user has its own URL (address.js).

import { correct, follow, go, placeOf, showHere } from './address.js';
import { TanisError, call, signIn, signOut, signedIn, whenSessionEnds } from './api.js';
import { appealsView } from './appeals.js';
import { auditView } from './audit.js';
import { dashboardView } from './dashboard.js';
import { el, isolated, latestOnly } from './dom.js';
import { t, toggleLanguage, language } from './i18n.js';
import { reportsView } from './reports.js';
import { statementsView } from './statements.js';
import { transparencyView } from './transparency.js';
import { usersView } from './users.js';

/**
 * A screen: what it shows for the role, and for the report or user its URL names (`id`, the digits after it).
 * @typedef {{id: string, roles: string[], view: (role: string, id: string | null) => Promise<HTMLElement>}} Screen
 */

/** Each screen, and the roles that may open it (the server's role matrix, docs/admin.md "Roles"); the first is
 * where a staff account starts: the day's overview before the queue. @type {Screen[]} */
const SCREENS = [
  { id: 'dashboard', roles: ['moderator', 'admin'], view: dashboardView },
  { id: 'reports', roles: ['moderator', 'admin'], view: reportsView },
  { id: 'users', roles: ['moderator', 'admin'], view: usersView },
  { id: 'appeals', roles: ['moderator', 'admin'], view: appealsView },
  { id: 'audit', roles: ['moderator', 'admin'], view: auditView },
  { id: 'statements', roles: ['admin'], view: statementsView },
  { id: 'transparency', roles: ['admin'], view: transparencyView },
];

const bar = /** @type {HTMLElement} */ (document.getElementById('bar'));
const screen = /** @type {HTMLElement} */ (document.getElementById('screen'));

/** The signed-in account's role; null while signed out. */
let role = /** @type {string | null} */ (null);

function languageButton() {
  return el('button', { type: 'button', testid: 'language', onclick: () => (toggleLanguage(), start()) }, t('language'));
}

/** @param {string | null} problem */
function signInForm(problem) {
  const phone = el('input', { type: 'tel', autocomplete: 'username', required: true, testid: 'phone' });
  const password = el('input', { type: 'password', autocomplete: 'current-password', required: true, testid: 'password' });
  /** @param {Event} event */
  const submit = async (event) => {
    event.preventDefault();
    try {
      await signIn(phone.value.trim(), password.value);
      await start();
    } catch (e) {
      screen.replaceChildren(signInForm(`${t('signInFailed')}: ${/** @type {Error} */ (e).message}`));
    }
  };
  return el(
    'form',
    { class: 'sign-in', onsubmit: submit },
    el('h1', {}, t('title')),
    problem && el('p', { class: 'problem', role: 'alert', testid: 'problem' }, problem),
    el('label', {}, t('phone'), phone),
    el('label', {}, t('password'), password),
    el('button', { type: 'submit', testid: 'sign-in' }, t('signIn')),
  );
}

/** The screens asked for. A screen still loading when another is chosen (the dashboard's figures on a slow server,
 * and the moderator already on Users) must not take the screen back when its answer comes. */
const screens = latestOnly(screen);

/**
 * Shows the place the URL names: a screen the role may open, with its report or user; any other place is the
 * first screen, and the URL says so.
 * @param {import('./address.js').Place} place
 */
async function open({ screen: screenId, id }) {
  if (role === null) return;
  const mine = role;
  const asked = SCREENS.find((s) => s.id === screenId && s.roles.includes(mine));
  const chosen = asked ?? SCREENS[0];
  if (!asked) correct(placeOf(chosen.id));
  for (const link of bar.querySelectorAll('[data-screen]')) {
    link.toggleAttribute('aria-current', /** @type {HTMLElement} */ (link).dataset.screen === chosen.id);
  }
  await screens.run(async (current) => {
    try {
      const view = await chosen.view(mine, asked ? id : null);
      if (!current()) return;
      screen.dataset.view = chosen.id;
      screen.replaceChildren(view);
      // Where a link to one report lands: in view, and where the keyboard goes on from.
      /** @type {HTMLElement | null} */ (screen.querySelector('[data-landed]'))?.focus();
    } catch (e) {
      if (!current()) return;
      // A 401 has ended the session already (api.js); a 403 is a role taken away since the sign-in.
      if (e instanceof TanisError && e.status === 401) return;
      if (e instanceof TanisError && e.status === 403) return leave(e.message);
      screen.dataset.view = chosen.id;
      screen.replaceChildren(el('p', { class: 'problem', role: 'alert', testid: 'problem' }, /** @type {Error} */ (e).message));
    }
  });
}

/** @param {string | null} problem */
function leave(problem) {
  // Whatever screen is still loading stays unshown. The URL stays: signing in again lands where it points.
  screens.overtake();
  role = null;
  delete screen.dataset.view;
  signOut();
  bar.replaceChildren(languageButton());
  screen.replaceChildren(signInForm(problem));
}

async function start() {
  document.documentElement.lang = language();
  document.title = t('title');
  if (!(await signedIn())) return leave(null);
  let me;
  try {
    me = await call('GET', '/v1/me');
  } catch (e) {
    return e instanceof TanisError && e.status === 401 ? undefined : leave(/** @type {Error} */ (e).message);
  }
  if (me.role !== 'moderator' && me.role !== 'admin') return leave(t('notStaff'));
  role = me.role;
  const mine = SCREENS.filter((s) => s.roles.includes(me.role));
  const nav = el(
    'nav',
    { 'aria-label': t('title') },
    mine.map((s) =>
      el('button', { type: 'button', 'data-screen': s.id, testid: `nav-${s.id}`, onclick: () => go(placeOf(s.id)) }, t(s.id)),
    ),
  );
  const who = el('span', { class: 'who', testid: 'who' }, isolated(me.handle ?? ''), ` · ${me.role}`);
  bar.replaceChildren(nav, who, languageButton(), el('button', { type: 'button', testid: 'sign-out', onclick: () => leave(null) }, t('signOut')));
  showHere();
}

// A session that ends under a call (its refresh refused, its login signed out elsewhere) goes back to the sign-in.
whenSessionEnds((problem) => leave(`${t('sessionEnded')}: ${problem}`));
follow((place) => void open(place));
start();
