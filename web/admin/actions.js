// @ts-check
// The moderators' actions on a user, as forms the report queue and the user page share: ban (a reason code, an
// optional duration in hours, a note), clear the report count, and the form that runs any of them and shows the
// server's refusal in its words.

import { call, callPublic } from './api.js';
import { el } from './dom.js';
import { t } from './i18n.js';

/** The operation whose body names the reason, in the server's OpenAPI document. */
const BAN = '/v1/admin/users/{id}/ban';

/** The reason codes, once read. */
let reasons = /** @type {Promise<string[]> | null} */ (null);

/**
 * The ban reason codes a moderator may give: the server's own, as its OpenAPI document (/openapi.json) states them
 * in the pattern of the ban's `reason` (`^(spam|harassment|…)$`, which tests/api/admin.rs keeps equal to the
 * server's codes), less `reports`, the automatic ban's. Read once a page; a failed read is tried again next time.
 * @returns {Promise<string[]>}
 */
export function banReasons() {
  reasons ??= callPublic('/openapi.json').then(reasonsOf).catch((e) => {
    reasons = null;
    throw e;
  });
  return reasons;
}

/** @param {any} doc the OpenAPI document */
function reasonsOf(doc) {
  let schema = doc.paths?.[BAN]?.post?.requestBody?.content?.['application/json']?.schema;
  if (schema?.$ref) schema = doc.components?.schemas?.[schema.$ref.split('/').pop()];
  const codes = /^\^\(([a-z_|]+)\)\$$/.exec(schema?.properties?.reason?.pattern ?? '');
  if (!codes) throw new Error(`the server's document names no ban reasons (${BAN})`);
  return codes[1].split('|').filter((code) => code !== 'reports');
}

/**
 * A form whose submit runs `act` and then `done`; a refusal is shown in it, in the server's words.
 * @param {string} testid
 * @param {import('./dom.js').Child} fields
 * @param {() => Promise<unknown>} act
 * @param {() => unknown} done
 */
export function actionForm(testid, fields, act, done) {
  const problem = el('p', { class: 'problem', role: 'alert', hidden: true });
  /** @param {Event} event */
  const submit = async (event) => {
    event.preventDefault();
    try {
      await act();
      await done();
    } catch (e) {
      problem.textContent = /** @type {Error} */ (e).message;
      problem.hidden = false;
    }
  };
  return el('form', { class: 'action', testid, onsubmit: submit }, fields, problem);
}

/**
 * A decision among `choices` ([value, label] pairs) with a required note labelled `noteLabel`, sent by `send(choice,
 * note)`: a report's resolution, an appeal's decision. `ids` names its parts for tests: form, choice, note, submit.
 * @param {{form: string, choice: string, note: string, submit: string}} ids
 * @param {[string, string][]} choices
 * @param {string} noteLabel
 * @param {(choice: string, note: string) => Promise<unknown>} send
 * @param {() => unknown} done
 */
export function decisionForm(ids, choices, noteLabel, send, done) {
  const choice = el('select', { testid: ids.choice, 'aria-label': t('decision') }, choices.map(([value, label]) => el('option', { value }, label)));
  const note = el('input', { type: 'text', required: true, maxlength: 1000, testid: ids.note, 'aria-label': noteLabel, placeholder: noteLabel });
  const submit = el('button', { type: 'submit', testid: ids.submit }, t('decide'));
  return actionForm(ids.form, [choice, note, submit], () => send(choice.value, note.value), done);
}

/**
 * Bans the user with one of `codes` (banReasons()).
 * @param {number} userId
 * @param {string[]} codes
 * @param {() => unknown} done
 */
export function banForm(userId, codes, done) {
  const reason = el('select', { testid: 'ban-reason', 'aria-label': t('banReason') }, codes.map((code) => el('option', { value: code }, code)));
  const hours = el('input', { type: 'number', min: 1, max: 8760, testid: 'ban-hours', 'aria-label': t('banHours'), placeholder: t('banHours') });
  const note = el('input', { type: 'text', maxlength: 1000, testid: 'ban-note', 'aria-label': t('note'), placeholder: t('note') });
  const act = () => {
    /** @type {{reason: string, note?: string, duration_hours?: number}} */
    const body = { reason: reason.value };
    if (note.value) body.note = note.value;
    if (hours.value) body.duration_hours = Number(hours.value);
    return call('POST', `/v1/admin/users/${userId}/ban`, body);
  };
  return actionForm('ban-form', [reason, hours, note, el('button', { type: 'submit', testid: 'ban' }, t('ban'))], act, done);
}

/**
 * Lifts the suspension "not as declared" reports put on the user's declared gender (docs/admin.md "Declarations").
 * @param {number} userId
 * @param {() => unknown} done
 */
export function clearDeclarationForm(userId, done) {
  const act = () => call('POST', `/v1/admin/users/${userId}/declaration/clearance`);
  return actionForm('clear-declaration-form', [el('button', { type: 'submit', testid: 'clear-declaration' }, t('clearDeclaration'))], act, done);
}

/** @param {number} userId @param {() => unknown} done */
export function clearForm(userId, done) {
  const act = () => call('POST', `/v1/admin/users/${userId}/clearance`);
  return actionForm('clear-form', [el('button', { type: 'submit', testid: 'clear' }, t('clearCounts'))], act, done);
}
