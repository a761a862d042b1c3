// Sign in, create an account, or reset a forgotten password. Registration asks for what
// `POST /v1/auth/register` requires today: phone, password, alias, birth year (the age gate), the privacy-notice
// consent, and optionally a referral code. A reset sends a code to the account's verified phone, then takes the
// code and a new password.

import { formValues, h } from '../dom.js';
import { t } from '../i18n.js';
import { codeInput } from './account.js';

/**
 * @param {{login: Function, register: Function, requestReset: Function, confirmReset: Function}} actions each
 *   resolves, or rejects with an ApiError
 */
export function renderAuth(actions, mode = 'login') {
  const error = h('p', { class: 'form-error', role: 'alert', 'data-testid': 'auth-error' });
  const busy = (form, on) => form.querySelectorAll('button, input').forEach((el) => (el.disabled = on));

  const submit = (run) => async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    error.textContent = '';
    busy(form, true);
    try {
      await run(formValues(form));
    } catch (e) {
      error.textContent = t(`error.${e.code}`, {}, e.message);
      busy(form, false);
    }
  };

  const phone = () =>
    h('label', {}, t('auth.phone'),
      h('input', { name: 'phone', type: 'tel', autocomplete: 'tel', required: true, placeholder: '+90 532 123 45 67', 'data-testid': 'phone' }));
  const password = (autocomplete) =>
    h('label', {}, t('auth.password'),
      h('input', { name: 'password', type: 'password', autocomplete, required: true, minlength: 8, maxlength: 72, 'data-testid': 'password' }));

  const login = h('form', { class: 'stack', onsubmit: submit((v) => actions.login(v.phone, v.password)), 'data-testid': 'login-form' },
    phone(),
    password('current-password'),
    h('button', { class: 'primary', type: 'submit', 'data-testid': 'login-submit' }, t('auth.signIn')),
    h('button', { class: 'link', type: 'button', onclick: () => show('reset'), 'data-testid': 'forgot' }, t('auth.forgot')));

  // Two steps in one form: the phone first, then the code and the new password once the code is on its way.
  let resetPhone = null;
  const resetCode = h('div', { class: 'stack', hidden: true },
    h('p', { class: 'muted small' }, t('auth.resetSent')),
    codeInput(),
    h('label', {}, t('account.newPassword'),
      h('input', { name: 'password', type: 'password', autocomplete: 'new-password', minlength: 8, maxlength: 72, 'data-testid': 'reset-password' })));
  // Hidden fields must not be required, or the browser refuses to submit the first step.
  resetCode.querySelectorAll('input').forEach((el) => (el.required = false));
  const reset = h('form', {
    class: 'stack',
    'data-testid': 'reset-form',
    onsubmit: submit(async (v) => {
      if (resetPhone === null) {
        await actions.requestReset(v.phone);
        resetPhone = v.phone;
        resetCode.hidden = false;
        resetCode.querySelectorAll('input').forEach((el) => (el.required = true));
      } else {
        await actions.confirmReset(resetPhone, v.code, v.password);
        resetPhone = null;
        show('login');
      }
      busy(reset, false);
    }),
  },
  h('p', { class: 'muted small' }, t('auth.resetHint')),
  phone(),
  resetCode,
  h('button', { class: 'primary', type: 'submit', 'data-testid': 'reset-submit' }, t('auth.reset')));

  const register = h('form', { class: 'stack', onsubmit: submit((v) => actions.register(v)), 'data-testid': 'register-form' },
    phone(),
    password('new-password'),
    h('label', {}, t('auth.alias'),
      h('input', { name: 'alias', required: true, minlength: 3, maxlength: 20, autocomplete: 'nickname', 'data-testid': 'alias' }),
      h('small', {}, t('auth.aliasHint'))),
    h('label', {}, t('auth.birthYear'),
      h('input', { name: 'birthYear', type: 'number', inputmode: 'numeric', required: true, min: 1900, max: new Date().getFullYear(), autocomplete: 'bday-year', 'data-testid': 'birth-year' }),
      h('small', {}, t('auth.birthYearHint'))),
    h('label', {}, t('auth.referral'),
      h('input', { name: 'referralCode', maxlength: 16, autocomplete: 'off', 'data-testid': 'referral' })),
    h('label', { class: 'check' },
      h('input', { name: 'consent', type: 'checkbox', required: true, 'data-testid': 'consent' }),
      h('span', {}, t('auth.consent'))),
    h('button', { class: 'primary', type: 'submit', 'data-testid': 'register-submit' }, t('auth.createAccount')));

  const tabs = h('div', { class: 'tabs', role: 'tablist' });
  const body = h('div', {});
  const show = (which) => {
    mode = which;
    error.textContent = '';
    for (const tab of tabs.children) tab.setAttribute('aria-selected', String(tab.dataset.mode === which));
    body.replaceChildren({ login, register, reset }[which]);
  };
  for (const which of ['login', 'register']) {
    tabs.append(h('button', { role: 'tab', type: 'button', 'data-mode': which, 'data-testid': `tab-${which}`, onclick: () => show(which) },
      t(which === 'login' ? 'auth.signIn' : 'auth.createAccount')));
  }
  show(mode);

  return h('section', { class: 'auth', 'data-screen': 'auth' },
    h('div', { class: 'hero' },
      h('h1', {}, 'tanış'),
      h('p', { class: 'tagline' }, t('auth.tagline')),
      h('ul', { class: 'points' },
        h('li', {}, t('auth.point.anonymous')),
        h('li', {}, t('auth.point.e2e')),
        h('li', {}, t('auth.point.video')))),
    h('div', { class: 'card' }, tabs, body, error));
}
