// The account screen's matching profile: the interests (a searchable chip picker over the server's vocabulary, at
// most its `max_per_profile`) and the languages spoken (one to three: the common ones as chips, every other ISO
// 639-1 language in a list). Each card is a draft until saved with `PATCH /v1/me`; the limits are enforced here
// (a chip past the limit cannot be pressed), and the server's refusal is shown under the card. The view outlives
// the account screen's re-renders (the sessions list arriving, a language switch), so a draft is never lost.

import { h } from '../dom.js';
import { getLang, t } from '../i18n.js';
import { loadedVocabulary, topicLabel, vocabulary } from '../interests.js';
import { CODES, COMMON, MAX_LANGUAGES, languageName } from '../languages.js';

export class ProfileView {
  /**
   * @param {{interests: string[], languages: string[]}} me the profile as saved
   * @param {(change: object) => Promise<void>} save `PATCH /v1/me`; rejects with an ApiError
   */
  constructor(me, save) {
    this.save = save;
    this.saved = { interests: [...me.interests], languages: [...me.languages] };
    this.draft = { interests: [...me.interests], languages: [...me.languages] };
    this.errors = { interests: '', languages: '' };
    this.busy = { interests: false, languages: false };
    this.vocabularyFailed = false;
    // Kept across renders: typing in it must not lose the caret.
    this.search = h('input', { type: 'search', 'data-testid': 'interest-search', 'data-focus': 'search', oninput: () => this.fillTopics() });
    this.el = h('div', { class: 'profile', 'data-testid': 'profile' });
    this.render();
    if (!loadedVocabulary()) this.loadVocabulary();
  }

  loadVocabulary() {
    this.vocabularyFailed = false;
    vocabulary().catch(() => (this.vocabularyFailed = true)).finally(() => this.render());
  }

  /** The profile as the server now has it: a card without unsaved changes follows it. */
  setSaved(me) {
    for (const field of ['interests', 'languages']) {
      if (same(this.draft[field], this.saved[field])) this.draft[field] = [...me[field]];
      this.saved[field] = [...me[field]];
    }
    this.render();
  }

  render() {
    // Rebuilding loses the focus and the topic list's scroll: give both back, so a click far down the list or
    // the keyboard can go on from where it was.
    const focused = this.el.contains(document.activeElement) ? document.activeElement.dataset.focus : null;
    const scrolled = this.topicList?.scrollTop ?? 0;
    this.search.placeholder = t('profile.search');
    this.search.setAttribute('aria-label', t('profile.search'));
    this.el.replaceChildren(this.interestsCard(), this.languagesCard());
    if (this.topicList) this.topicList.scrollTop = scrolled;
    if (focused) this.el.querySelector(`[data-focus="${CSS.escape(focused)}"]`)?.focus({ preventScroll: true });
  }

  // --- interests --------------------------------------------------------------------------------------------

  interestsCard() {
    const vocab = loadedVocabulary();
    const chosen = this.draft.interests;
    const max = vocab?.max_per_profile ?? 10;
    const full = chosen.length >= max;
    let body;
    if (vocab) {
      this.topicList = h('div', { class: 'chip-list topics', role: 'group', 'aria-label': t('profile.interests'), 'data-testid': 'interest-list' });
      this.noTopic = h('p', { class: 'muted small', 'data-testid': 'no-topic' });
      this.fillTopics();
      body = [
        this.search, this.topicList, this.noTopic,
        full && h('p', { class: 'muted small', 'data-testid': 'interests-limit' }, t('profile.limit', { max })),
      ];
    } else {
      body = this.vocabularyFailed
        ? h('p', { class: 'form-error' }, t('profile.loadFailed'), ' ',
          h('button', { type: 'button', class: 'link', onclick: () => this.loadVocabulary() }, t('profile.retry')))
        : h('p', { class: 'muted' }, '…');
    }
    return this.card('interests', t('profile.interests'), t('profile.interestsHint', { max }), chosen.length, max,
      chosen.map((id) => removableChip('chosen-interest', id, topicLabel(id), () => this.remove('interests', id))),
      body, !vocab);
  }

  /** The topics the search leaves, as chips; only these are rebuilt while typing. */
  fillTopics() {
    const vocab = loadedVocabulary();
    const chosen = this.draft.interests;
    const full = chosen.length >= vocab.max_per_profile;
    const query = fold(this.search.value.trim());
    const shown = vocab.topics.filter((topic) => !query || [topic.tr, topic.en].some((l) => fold(l).includes(query)));
    this.topicList.replaceChildren(...shown.map((topic) =>
      toggleChip('interest', topic.id, topicLabel(topic.id), chosen.includes(topic.id), full,
        () => this.toggle('interests', topic.id, vocab.max_per_profile))));
    this.noTopic.textContent = shown.length ? '' : t('profile.noTopic', { q: this.search.value.trim() });
    this.noTopic.hidden = shown.length > 0;
  }

  // --- languages --------------------------------------------------------------------------------------------

  languagesCard() {
    const chosen = this.draft.languages;
    const full = chosen.length >= MAX_LANGUAGES;
    const others = CODES.filter((code) => !COMMON.includes(code) && !chosen.includes(code))
      .map((code) => ({ code, name: languageName(code) }))
      .sort((a, b) => a.name.localeCompare(b.name, getLang()));
    const other = h('select', {
      'aria-label': t('profile.otherLanguage'), disabled: full, 'data-testid': 'other-language',
      onchange: (e) => e.target.value && this.toggle('languages', e.target.value, MAX_LANGUAGES),
    },
    h('option', { value: '' }, t('profile.otherLanguage')),
    others.map(({ code, name }) => h('option', { value: code }, name === code ? code : `${name} (${code})`)));
    const body = [
      h('div', { class: 'chip-list', role: 'group', 'aria-label': t('profile.languages'), 'data-testid': 'language-list' },
        COMMON.map((code) => toggleChip('language', code, languageName(code), chosen.includes(code), full,
          () => this.toggle('languages', code, MAX_LANGUAGES)))),
      other,
      full && h('p', { class: 'muted small', 'data-testid': 'languages-limit' }, t('profile.limit', { max: MAX_LANGUAGES })),
      chosen.length === 0 && h('p', { class: 'muted small', 'data-testid': 'languages-none' }, t('profile.languagesNone')),
    ];
    return this.card('languages', t('profile.languages'), t('profile.languagesHint', { max: MAX_LANGUAGES }),
      chosen.length, MAX_LANGUAGES,
      chosen.map((code) => removableChip('chosen-language', code, languageName(code), () => this.remove('languages', code))),
      body, chosen.length === 0);
  }

  // --- both -------------------------------------------------------------------------------------------------

  card(field, title, hint, count, max, chosenChips, body, cannotSave) {
    const dirty = !same(this.draft[field], this.saved[field]);
    return h('section', {
      class: 'card stack', 'aria-busy': String(this.busy[field]), 'data-dirty': String(dirty), 'data-testid': `${field}-card`,
    },
      h('div', { class: 'row spread' },
        h('h2', {}, title),
        h('span', { class: 'badge', 'data-testid': `${field}-count` }, t('profile.count', { n: count, max }))),
      h('p', { class: 'muted small' }, hint),
      h('div', { class: 'chip-list chosen', 'data-testid': `${field}-chosen` },
        chosenChips.length ? chosenChips : h('span', { class: 'muted small' }, t('profile.chosenNone'))),
      body,
      h('p', { class: 'form-error', role: 'alert', 'data-testid': `${field}-error` }, this.errors[field]),
      h('div', { class: 'row' },
        h('button', {
          type: 'button', class: 'primary', disabled: !dirty || cannotSave || this.busy[field],
          onclick: () => this.submit(field), 'data-testid': `${field}-save`,
        }, t('profile.save'))));
  }

  toggle(field, value, max) {
    const list = this.draft[field];
    if (list.includes(value)) return this.remove(field, value);
    // The disabled chip already stops it; this keeps a programmatic click from going past the limit too.
    if (list.length >= max) return;
    this.draft[field] = [...list, value];
    this.errors[field] = '';
    this.render();
  }

  remove(field, value) {
    this.draft[field] = this.draft[field].filter((v) => v !== value);
    this.errors[field] = '';
    this.render();
  }

  async submit(field) {
    this.busy[field] = true;
    this.errors[field] = '';
    this.render();
    try {
      await this.save({ [field]: this.draft[field] });
    } catch (e) {
      this.errors[field] = t(`error.${e.code}`, {}, e.message);
    }
    this.busy[field] = false;
    this.render();
  }
}

/** A chip that is on or off; off and `full` means it cannot be pressed. */
function toggleChip(kind, value, label, on, full, onclick) {
  return h('button', {
    type: 'button', class: 'chip', 'aria-pressed': String(on), disabled: !on && full, onclick,
    'data-testid': kind, 'data-value': value, 'data-focus': `${kind}:${value}`,
  }, label);
}

/** A chosen value, with a × that removes it. */
function removableChip(testid, value, label, onclick) {
  return h('button', {
    type: 'button', class: 'chip on', onclick, 'aria-label': t('profile.remove', { name: label }),
    'data-testid': testid, 'data-value': value, 'data-focus': `${testid}:${value}`,
  }, label, h('span', { 'aria-hidden': 'true' }, ' ×'));
}

function same(a, b) {
  return a.length === b.length && a.every((v) => b.includes(v));
}

/** For search: case, accents and the dotless ı do not matter ("muz" finds "Müzik"). */
function fold(text) {
  return text.toLocaleLowerCase(getLang()).normalize('NFD').replace(/\p{M}/gu, '').replace(/ı/g, 'i');
}
