// Interests on this side: the server's vocabulary of topics (`GET /v1/interests`, fetched once per page, no token)
// with each topic's label in the UI's language, and the lobby's remembered choice of how `match.find` uses them
// (`"off"`, `"prefer"`, `"only"`; docs/protocol.md). What a profile lists is the account's (`PATCH /v1/me`).

import { getLang } from './i18n.js';

const MODE_KEY = 'tanis.interestMode';
export const MODES = ['off', 'prefer', 'only'];

/** `{topics: [{id, tr, en}], max_per_profile}` once loaded; the labels of `match.found` need it synchronously. */
let loaded = null;
let loading = null;

/** The vocabulary, fetched once; a failed fetch is tried again on the next call. */
export function vocabulary() {
  loading ??= fetch('/v1/interests')
    .then((response) => (response.ok ? response.json() : Promise.reject(new Error(`GET /v1/interests: ${response.status}`))))
    .then((body) => (loaded = body))
    .catch((e) => {
      loading = null;
      throw e;
    });
  return loading;
}

/** The vocabulary if it has arrived, else null. */
export function loadedVocabulary() {
  return loaded;
}

/** A topic's label in the UI's language; its id when the vocabulary has not arrived or does not list it. */
export function topicLabel(id) {
  const topic = loaded?.topics.find((t) => t.id === id);
  return topic ? topic[getLang()] ?? topic.en : id;
}

/** The remembered mode, `"off"` when none was chosen. */
export function interestMode() {
  const saved = localStorage.getItem(MODE_KEY);
  return MODES.includes(saved) ? saved : 'off';
}

export function setInterestMode(mode) {
  localStorage.setItem(MODE_KEY, MODES.includes(mode) ? mode : 'off');
}

/**
 * What `match.find` asks for: the remembered mode, but `"off"` while the profile lists no interests (`"only"`
 * would then wait for ever: nobody shares none).
 */
export function findMode(me) {
  return me?.interests?.length ? interestMode() : 'off';
}
