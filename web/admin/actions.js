// The moderators' actions on a user, as forms the report queue and the user page share: ban (a reason code, an
// optional duration in hours, a note), clear the report count, and the form that runs any of them and shows the
// server's refusal in its words.

import { call } from './api.js';
import { el } from './dom.js';
import { t } from './i18n.js';

/** The ban reason codes a moderator may give (docs/admin.md, "Banning"; `reports` is the automatic ban's). */
const BAN_REASONS = ['harassment', 'spam', 'hate', 'sexual_content', 'underage', 'scam', 'impersonation', 'violence', 'other'];

/** A form whose submit runs `act` and then `done`; a refusal is shown in it, in the server's words. */
export function actionForm(testid, fields, act, done) {
  const problem = el('p', { class: 'problem', role: 'alert', hidden: true });
  const submit = async (event) => {
    event.preventDefault();
    try {
      await act();
      await done();
    } catch (e) {
      problem.textContent = e.message;
      problem.hidden = false;
    }
  };
  return el('form', { class: 'action', testid, onsubmit: submit }, fields, problem);
}

/**
 * A decision among `choices` ([value, label] pairs) with a required note labelled `noteLabel`, sent by `send(choice,
 * note)`: a report's resolution, an appeal's decision. `ids` names its parts for tests: form, choice, note, submit.
 */
export function decisionForm(ids, choices, noteLabel, send, done) {
  const choice = el('select', { testid: ids.choice, 'aria-label': t('decision') }, choices.map(([value, label]) => el('option', { value }, label)));
  const note = el('input', { type: 'text', required: true, maxlength: 1000, testid: ids.note, 'aria-label': noteLabel, placeholder: noteLabel });
  const submit = el('button', { type: 'submit', testid: ids.submit }, t('decide'));
  return actionForm(ids.form, [choice, note, submit], () => send(choice.value, note.value), done);
}

export function banForm(userId, done) {
  const reason = el('select', { testid: 'ban-reason', 'aria-label': t('banReason') }, BAN_REASONS.map((code) => el('option', { value: code }, code)));
  const hours = el('input', { type: 'number', min: 1, max: 8760, testid: 'ban-hours', 'aria-label': t('banHours'), placeholder: t('banHours') });
  const note = el('input', { type: 'text', maxlength: 1000, testid: 'ban-note', 'aria-label': t('note'), placeholder: t('note') });
  const act = () => {
    const body = { reason: reason.value };
    if (note.value) body.note = note.value;
    if (hours.value) body.duration_hours = Number(hours.value);
    return call('POST', `/v1/admin/users/${userId}/ban`, body);
  };
  return actionForm('ban-form', [reason, hours, note, el('button', { type: 'submit', testid: 'ban' }, t('ban'))], act, done);
}

/** Lifts the suspension "not as declared" reports put on the user's declared gender (docs/admin.md "Declarations"). */
export function clearDeclarationForm(userId, done) {
  const act = () => call('POST', `/v1/admin/users/${userId}/declaration/clearance`);
  return actionForm('clear-declaration-form', [el('button', { type: 'submit', testid: 'clear-declaration' }, t('clearDeclaration'))], act, done);
}

export function clearForm(userId, done) {
  const act = () => call('POST', `/v1/admin/users/${userId}/clearance`);
  return actionForm('clear-form', [el('button', { type: 'submit', testid: 'clear' }, t('clearCounts'))], act, done);
}
