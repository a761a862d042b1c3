// Between matches: who you are, what you have left today, and the buttons that look for a stranger; then the
// waiting screen while `match.find` is queued.

import { h } from '../dom.js';
import { formatTime, t } from '../i18n.js';
import { icon } from '../icons.js';

/**
 * @param {{me: object, balances: object, premium: boolean, ad: object|null}} state
 * @param {{find: Function, setLocation: Function, clearLocation: Function, adClicked: Function, acceptNotice: Function, account: Function}} actions
 */
export function renderLobby(state, actions) {
  const { me, balances } = state;
  const hasLocation = Boolean(me.location);
  const nearby = h('input', { type: 'checkbox', name: 'nearby', disabled: !hasLocation, 'data-testid': 'nearby' });

  return h('section', { class: 'lobby', 'data-screen': 'lobby' },
    me.must_accept_privacy_notice && h('div', { class: 'card notice', 'data-testid': 'notice-update' },
      h('h2', {}, t('notice.updated')),
      h('p', {}, t('auth.consent')),
      h('button', { class: 'primary', type: 'button', onclick: actions.acceptNotice, 'data-testid': 'accept-notice' },
        t('notice.accept', { version: me.current_privacy_notice_version }))),
    me.phone_verified === false && h('div', { class: 'card notice', 'data-testid': 'verify-phone' },
      h('h2', {}, t('account.verifyTitle')),
      h('p', {}, t('account.phoneUnverified')),
      h('button', { class: 'primary', type: 'button', onclick: actions.account, 'data-testid': 'verify-phone-open' }, t('account.verifyOpen'))),
    h('div', { class: 'card intro' },
      h('p', { class: 'muted' }, t('lobby.youAre')),
      h('p', { class: 'handle', 'data-testid': 'my-handle' }, me.handle),
      h('p', { class: 'muted small' }, t('lobby.anonymity'))),

    h('div', { class: 'card' },
      h('h2', {}, t('lobby.meet')),
      h('div', { class: 'find' },
        findButton('text', balances.daily_text + balances.bonus_text, () => actions.find('text', nearby.checked)),
        findButton('video', balances.daily_video + balances.bonus_video, () => actions.find('video', nearby.checked))),
      h('div', { class: 'nearby' },
        h('label', { class: 'check' }, nearby, h('span', {}, t('lobby.nearby'))),
        hasLocation
          ? h('button', { class: 'link', type: 'button', onclick: actions.clearLocation }, t('lobby.clearLocation'))
          : h('button', { class: 'link', type: 'button', onclick: actions.setLocation, 'data-testid': 'set-location' }, t('lobby.setLocation'))),
      h('p', { class: 'muted small' }, hasLocation ? t('lobby.locationPrivate') : t('lobby.nearbyNeedsLocation'))),

    h('div', { class: 'card plan', 'data-testid': 'plan' },
      h('h2', {}, state.premium ? t('plan.premium') : t('plan.free')),
      me.plan && h('p', {}, t(me.plan.renews ? 'plan.renews' : 'plan.ends', { date: formatTime(me.plan.ends_at) })),
      h('dl', { class: 'balances', 'data-testid': 'balances' },
        balance(t('balance.text'), balances.daily_text, balances.bonus_text),
        balance(t('balance.video'), balances.daily_video, balances.bonus_video)),
      h('p', { class: 'muted small' }, t('plan.resets')),
      h('p', { class: 'muted small' }, t('plan.referral'), ' ', h('code', {}, me.referral_code))),

    state.ad && renderAd(state.ad, actions.adClicked));
}

function findButton(kind, left, onclick) {
  return h('button', { class: `find-${kind} primary`, type: 'button', disabled: left <= 0, onclick, 'data-testid': `find-${kind}` },
    icon(kind === 'text' ? 'chat' : 'video'),
    h('span', {}, t(`lobby.find.${kind}`)),
    h('small', {}, t('lobby.left', { n: left })));
}

function balance(label, daily, bonus) {
  return [h('dt', {}, label), h('dd', {}, t('balance.value', { daily, bonus }))];
}

function renderAd(ad, clicked) {
  return h('aside', { class: 'card ad', 'data-testid': 'ad' },
    h('span', { class: 'badge' }, t('ad.label')),
    h('button', { class: 'ad-body', type: 'button', onclick: () => clicked(ad) },
      h('strong', {}, ad.title), h('span', {}, ad.content)));
}

export function renderWaiting(kind, nearby, cancel) {
  return h('section', { class: 'waiting', 'data-screen': 'waiting' },
    h('div', { class: 'card center' },
      h('div', { class: 'pulse', 'aria-hidden': 'true' }),
      h('h2', { 'data-testid': 'waiting' }, t('waiting.title')),
      h('p', { class: 'muted' }, t(`waiting.${kind}`), nearby ? ` · ${t('waiting.nearby')}` : ''),
      h('button', { type: 'button', onclick: cancel, 'data-testid': 'cancel-find' }, t('waiting.cancel'))));
}
