// The account screen: the user's own data and rights (docs/privacy.md). The matching profile (interests and
// languages, views/profile.js), phone verification by SMS code, the signed-in devices with sign-out, the password,
// the KVKK export as a download, and deleting the account.
// Every form reports the server's error code in the user's language and keeps its fields on failure.

import { formValues, h } from '../dom.js';
import { formatTime, t } from '../i18n.js';

/**
 * @param {{me: object, sessions: object[]|null, codeSent: object|null}} state
 * @param {{back, sendCode, verify, revoke, revokeOthers, changePassword, download, deleteAccount}} actions
 *   each resolves, or rejects with an ApiError that the form shows
 * @param {Node} profile the matching profile's cards (a ProfileView's element, kept across renders)
 */
export function renderAccount(state, actions, profile) {
  const { me } = state;
  return h('section', { class: 'account', 'data-screen': 'account' },
    h('div', { class: 'row' },
      h('button', { type: 'button', class: 'link', onclick: actions.back, 'data-testid': 'account-back' }, t('account.back')),
      h('h1', {}, t('account.title'))),
    profile,
    phoneCard(me, state.codeSent, actions),
    sessionsCard(state.sessions, actions),
    form('password', t('account.password'), actions.changePassword,
      password('current', t('account.currentPassword'), 'current-password'),
      password('next', t('account.newPassword'), 'new-password', 8),
      submit('password-submit', t('account.changePassword'))),
    h('div', { class: 'card stack' },
      h('h2', {}, t('account.export')),
      h('p', { class: 'muted small' }, t('account.exportHint')),
      h('button', { type: 'button', onclick: actions.download, 'data-testid': 'export' }, t('account.download'))),
    form('delete', t('account.delete'), actions.deleteAccount,
      // What the deletion ends for good is said before the user confirms: an undo restores the account, not contacts.
      h('p', { class: 'muted small', 'data-testid': 'delete-hint' }, t('account.deleteHint')),
      password('password', t('auth.password'), 'current-password'),
      h('button', { class: 'danger', type: 'submit', 'data-testid': 'delete-submit' }, t('account.deleteConfirm'))));
}

function phoneCard(me, codeSent, actions) {
  if (me.phone_verified) {
    return h('div', { class: 'card', 'data-testid': 'phone-verified' },
      h('h2', {}, t('account.phone')), h('p', {}, '✓ ', t('account.phoneVerified')));
  }
  // Registration sent a code already: the field is there from the start, and a new code is one click away.
  return form('verify', t('account.phone'), actions.verify,
    h('p', { class: 'muted small' }, t('account.phoneUnverified')),
    h('p', { class: 'muted small', 'data-testid': 'code-sent' },
      codeSent ? t('account.codeSent', { time: formatTime(codeSent.expires_at) }) : t('account.codeSentAtRegistration')),
    codeInput(),
    h('div', { class: 'row' },
      submit('verify-submit', t('account.verify')),
      h('button', { type: 'button', onclick: actions.sendCode, 'data-testid': 'send-code' }, t('account.resendCode'))));
}

function sessionsCard(sessions, actions) {
  const rows = (sessions ?? []).map((s) =>
    h('li', { class: 'session', 'data-testid': 'session', 'data-current': String(s.current) },
      h('div', {},
        h('strong', {}, s.user_agent ?? t('account.unknownDevice')),
        h('p', { class: 'muted small' },
          t('account.lastUsed', { time: formatTime(s.last_used_at) }),
          s.ip_address && ` · ${s.ip_address}`,
          s.place && ` · ${s.place}`),
        // A session that took contact conversations over: what a stolen session would show (protocol section 9).
        s.contact_keys?.length > 0 && h('p', { class: 'small', 'data-testid': 'session-took-over' },
          t('account.tookOver', { count: s.contact_keys.length, time: formatTime(s.contact_keys[0].published_at) }))),
      s.current
        ? h('span', { class: 'badge' }, t('account.thisDevice'))
        : h('button', { type: 'button', onclick: () => actions.revoke(s.id), 'data-testid': 'revoke-session' }, t('account.signOutDevice'))));
  return h('div', { class: 'card stack' },
    h('h2', {}, t('account.sessions')),
    sessions === null ? h('p', { class: 'muted' }, '…') : h('ul', { class: 'sessions' }, rows),
    h('button', { type: 'button', onclick: actions.revokeOthers, 'data-testid': 'revoke-others' }, t('account.signOutOthers')));
}

/** A card holding a form whose submit runs `run(values)` and shows the refusal under it. */
function form(name, title, run, ...fields) {
  const error = h('p', { class: 'form-error', role: 'alert', 'data-testid': `${name}-error` });
  const onsubmit = async (event) => {
    event.preventDefault();
    const el = event.currentTarget;
    error.textContent = '';
    try {
      await run(formValues(el));
      el.reset();
    } catch (e) {
      error.textContent = t(`error.${e.code}`, {}, e.message);
    }
  };
  return h('form', { class: 'card stack', onsubmit, 'data-testid': `${name}-form` }, h('h2', {}, title), ...fields, error);
}

function password(name, label, autocomplete, minlength) {
  return h('label', {}, label,
    h('input', { name, type: 'password', autocomplete, required: true, minlength, maxlength: 72, 'data-testid': `${name}-password` }));
}

export function codeInput() {
  return h('label', {}, t('account.code'),
    h('input', { name: 'code', inputmode: 'numeric', autocomplete: 'one-time-code', required: true, pattern: '[0-9]{6}', maxlength: 6, 'data-testid': 'code' }));
}

function submit(testid, label) {
  return h('button', { class: 'primary', type: 'submit', 'data-testid': testid }, label);
}
