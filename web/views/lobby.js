// Between matches: who you are, what you have left today, and the buttons that look for a stranger (with the
// choices of how: nearby, on interests, and for premium a region); then the waiting screen while `match.find` is queued.

import { h } from '../dom.js';
import { formatTime, t } from '../i18n.js';
import { icon } from '../icons.js';
import { MODES, findMode, setInterestMode, topicLabel } from '../interests.js';
import { RADIUS_KM, REGIONS, regionChoice, regionField, setRegionChoice } from '../region.js';

/**
 * @param {{me: object, balances: object, premium: boolean, ad: object|null}} state
 * @param {{find: Function, setLocation: Function, clearLocation: Function, adClicked: Function, acceptNotice: Function, account: Function, ageCard: Function}} actions
 */
export function renderLobby(state, actions) {
  const { me, balances } = state;
  const hasLocation = Boolean(me.location);
  const nearby = h('input', { type: 'checkbox', name: 'nearby', disabled: !hasLocation, 'data-testid': 'nearby' });
  const interests = interestChoice(me, actions.account);
  const region = regionControl(state.premium, hasLocation);
  const find = (kind) => actions.find(kind, nearby.checked, interests.mode(), region.field());

  return h('section', { class: 'lobby', 'data-screen': 'lobby' },
    me.must_accept_privacy_notice && h('div', { class: 'card notice', 'data-testid': 'notice-update' },
      h('h2', {}, t('notice.updated')),
      h('p', {}, t('auth.consent')),
      h('button', { class: 'primary', type: 'button', onclick: actions.acceptNotice, 'data-testid': 'accept-notice' },
        t('notice.accept', { version: me.current_privacy_notice_version }))),
    actions.ageCard(),
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
        findButton('text', balances.daily_text + balances.bonus_text, () => find('text')),
        findButton('video', balances.daily_video + balances.bonus_video, () => find('video'))),
      interests.el,
      region.el,
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

/**
 * Off, prefer or only, remembered across reloads. Without interests in the profile only "off" can be chosen, and
 * the hint says where to add some. Returns the fieldset and a reader of the choice.
 */
function interestChoice(me, openAccount) {
  const listed = me.interests ?? [];
  const hint = h('p', { class: 'muted small', 'data-testid': 'interests-hint' });
  const showHint = (mode) => (hint.textContent = t(`lobby.interestsHint.${mode}`));
  const current = findMode(me);
  const options = MODES.map((mode) => {
    const input = h('input', {
      type: 'radio', name: 'interests', value: mode, checked: mode === current, disabled: mode !== 'off' && !listed.length,
      'data-testid': `interests-${mode}`,
      onchange: () => {
        setInterestMode(mode);
        showHint(mode);
      },
    });
    return h('label', { class: 'segment' }, input, h('span', {}, t(`lobby.interests.${mode}`)));
  });
  showHint(current);
  const el = h('fieldset', { class: 'interests-mode', 'data-testid': 'interests-mode' },
    h('legend', {}, t('lobby.interests')),
    h('div', { class: 'segments' }, options),
    listed.length
      ? [hint, h('p', { class: 'muted small', 'data-testid': 'my-interests' },
        t('lobby.yourInterests', { list: listed.map(topicLabel).join(', ') }), ' ',
        h('button', { class: 'link', type: 'button', onclick: openAccount, 'data-testid': 'interests-edit' }, t('lobby.interestsEdit')))]
      : h('p', { class: 'muted small', 'data-testid': 'interests-none' }, t('lobby.interestsNone'), ' ',
        h('button', { class: 'link', type: 'button', onclick: openAccount, 'data-testid': 'interests-choose' }, t('lobby.interestsChoose'))));
  return { el, mode: () => el.querySelector('input:checked')?.value ?? 'off' };
}

/**
 * Premium: anywhere, only my country, or only within a radius of my stored location; remembered across reloads.
 * Free users see what premium would add, and keep "nearby" (a preference) below. Returns the element and the
 * `region` field for `match.find`.
 */
function regionControl(premium, hasLocation) {
  const choice = regionChoice();
  if (!premium) {
    return { el: h('p', { class: 'muted small', 'data-testid': 'region-premium-only' }, t('lobby.regionPremium')), field: () => undefined };
  }
  const km = h('input', {
    type: 'number', name: 'radius_km', min: RADIUS_KM.min, max: RADIUS_KM.max, step: 1, value: choice.km,
    disabled: !hasLocation, 'aria-label': t('lobby.regionKm'), 'data-testid': 'region-km',
    onchange: () => save(),
  });
  const options = REGIONS.map((kind) => h('label', { class: 'segment' },
    h('input', {
      type: 'radio', name: 'region', value: kind, checked: kind === choice.kind,
      disabled: kind === 'radius' && !hasLocation, 'data-testid': `region-${kind}`, onchange: () => save(),
    }),
    h('span', {}, t(`lobby.region.${kind}`))));
  const el = h('fieldset', { class: 'interests-mode', 'data-testid': 'region' },
    h('legend', {}, t('lobby.region'), ' ', h('span', { class: 'badge premium' }, t('plan.premiumBadge'))),
    h('div', { class: 'segments' }, options),
    h('label', { class: 'radius' }, km, h('span', {}, t('lobby.regionKm'))),
    h('p', { class: 'muted small' }, hasLocation ? t('lobby.regionHint') : t('lobby.regionNeedsLocation')));
  const current = () => ({ kind: el.querySelector('input[name=region]:checked')?.value ?? 'anywhere', km: km.value });
  const save = () => setRegionChoice(current());
  return { el, field: () => regionField(current(), { premium, hasLocation }) };
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

/** @param {{kind: string, nearby?: boolean, interests?: string}} finding what `match.find` asked for */
export function renderWaiting({ kind, nearby, interests, region }, cancel) {
  return h('section', { class: 'waiting', 'data-screen': 'waiting' },
    h('div', { class: 'card center' },
      h('div', { class: 'pulse', 'aria-hidden': 'true' }),
      h('h2', { 'data-testid': 'waiting' }, t('waiting.title')),
      h('p', { class: 'muted', 'data-testid': 'waiting-for' }, t(`waiting.${kind}`), nearby ? ` · ${t('waiting.nearby')}` : '',
        interests && interests !== 'off' ? ` · ${t(`waiting.interests.${interests}`)}` : '',
        region === 'country' ? ` · ${t('waiting.country')}` : '',
        region?.radius_km ? ` · ${t('waiting.radius', { km: region.radius_km })}` : ''),
      h('button', { type: 'button', onclick: cancel, 'data-testid': 'cancel-find' }, t('waiting.cancel'))));
}
