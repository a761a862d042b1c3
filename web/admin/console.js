// The moderators' console (docs/admin.md, "The console"): served by the binary at /admin/, plain modules and no
// build step, as the web client. A staff account signs in as anyone does; the console shows the screens its role
// may use (a moderator never sees an admin's), and the server refuses the rest anyway. Keyboard: every control
// is a native button, link or input, in reading order.

import { ApiError, call, signIn, signOut, signedIn, whenSessionEnds } from './api.js';
import { appealsView } from './appeals.js';
import { auditView } from './audit.js';
import { dashboardView } from './dashboard.js';
import { el, latestOnly } from './dom.js';
import { t, toggleLanguage, language } from './i18n.js';
import { reportsView } from './reports.js';
import { statementsView } from './statements.js';
import { usersView } from './users.js';

/** Each screen, and the roles that may open it (the server's role matrix, docs/admin.md "Roles"); the first is
 * where a staff account starts: the day's overview before the queue. */
const SCREENS = [
  { id: 'dashboard', roles: ['moderator', 'admin'], view: dashboardView },
  { id: 'reports', roles: ['moderator', 'admin'], view: reportsView },
  { id: 'users', roles: ['moderator', 'admin'], view: usersView },
  { id: 'appeals', roles: ['moderator', 'admin'], view: appealsView },
  { id: 'audit', roles: ['moderator', 'admin'], view: auditView },
  { id: 'statements', roles: ['admin'], view: statementsView },
];

const bar = document.getElementById('bar');
const screen = document.getElementById('screen');

function languageButton() {
  return el('button', { type: 'button', testid: 'language', onclick: () => (toggleLanguage(), start()) }, t('language'));
}

function signInForm(problem) {
  const phone = el('input', { type: 'tel', autocomplete: 'username', required: true, testid: 'phone' });
  const password = el('input', { type: 'password', autocomplete: 'current-password', required: true, testid: 'password' });
  const submit = async (event) => {
    event.preventDefault();
    try {
      await signIn(phone.value.trim(), password.value);
      await start();
    } catch (e) {
      screen.replaceChildren(signInForm(`${t('signInFailed')}: ${e.message}`));
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

async function open(screenId, role) {
  const chosen = SCREENS.find((s) => s.id === screenId && s.roles.includes(role)) ?? SCREENS[0];
  for (const link of bar.querySelectorAll('[data-screen]')) {
    link.toggleAttribute('aria-current', link.dataset.screen === chosen.id);
  }
  await screens.run(async (current) => {
    try {
      const view = await chosen.view(role);
      if (!current()) return;
      screen.dataset.view = chosen.id;
      screen.replaceChildren(view);
    } catch (e) {
      if (!current()) return;
      // A 401 has ended the session already (api.js); a 403 is a role taken away since the sign-in.
      if (e instanceof ApiError && e.status === 401) return;
      if (e instanceof ApiError && e.status === 403) return leave(e.message);
      screen.dataset.view = chosen.id;
      screen.replaceChildren(el('p', { class: 'problem', role: 'alert', testid: 'problem' }, e.message));
    }
  });
}

function leave(problem) {
  // Whatever screen is still loading stays unshown.
  screens.overtake();
  delete screen.dataset.view;
  signOut();
  bar.replaceChildren(languageButton());
  screen.replaceChildren(signInForm(problem));
}

async function start() {
  document.documentElement.lang = language();
  document.title = t('title');
  if (!signedIn()) return leave(null);
  let me;
  try {
    me = await call('GET', '/v1/me');
  } catch (e) {
    return e instanceof ApiError && e.status === 401 ? undefined : leave(e.message);
  }
  if (me.role !== 'moderator' && me.role !== 'admin') return leave(t('notStaff'));
  const mine = SCREENS.filter((s) => s.roles.includes(me.role));
  const nav = el(
    'nav',
    { 'aria-label': t('title') },
    mine.map((s) =>
      el('button', { type: 'button', 'data-screen': s.id, testid: `nav-${s.id}`, onclick: () => open(s.id, me.role) }, t(s.id)),
    ),
  );
  const who = el('span', { class: 'who', testid: 'who' }, `${me.handle ?? ''} · ${me.role}`);
  bar.replaceChildren(nav, who, languageButton(), el('button', { type: 'button', testid: 'sign-out', onclick: () => leave(null) }, t('signOut')));
  await open(mine[0].id, me.role);
}

// A session that ends under a call (its refresh refused, its login signed out elsewhere) goes back to the sign-in.
whenSessionEnds((problem) => leave(`${t('sessionEnded')}: ${problem}`));
start();
