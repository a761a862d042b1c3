// @ts-check
// A user's trust standing on their page (`trust` of GET /v1/admin/users, docs/admin.md "Trust"): whether their phone
// answered a code, whether they are a new account or held to the limits of one, why they are up for review, whether
// they are quarantined (matched only with other quarantined users), and — as a reporter — how many snapshot reports
// from calls they filed in 30 days and how many of those were dismissed: a snapshot cannot be verified, so someone
// whose snapshot reports are mostly dismissed is sending pictures that prove nothing, and that is itself a signal.

import { el } from './dom.js';
import { t } from './i18n.js';

const yes = (flag) => (flag ? t('yes') : t('no'));

function row(testid, label, value, warn = false) {
  return el('div', { class: 'row' }, el('dt', {}, label), el('dd', { testid, class: warn ? 'warn' : null }, value));
}

/** The snapshot reports a reporter filed and how many were dismissed (`{filed, dismissed}`), as one phrase. */
export function snapshotReports(counts) {
  return `${counts.filed} ${t('snapshotsFiled')} · ${counts.dismissed} ${t('snapshotsDismissed')}`;
}

export function standing(trust) {
  const review = trust.review ? `${t(trust.review)} (${trust.review})` : t('no');
  const snapshots = trust.snapshot_reports;
  return el(
    'dl',
    { class: 'standing', testid: 'trust' },
    row('trust-phone', t('phoneVerified'), yes(trust.phone_verified), !trust.phone_verified),
    row('trust-new', t('newAccount'), yes(trust.new_account), trust.new_account),
    row('trust-limited', t('limited'), yes(trust.limited), trust.limited),
    row('trust-review', t('underReview'), review, trust.review !== null),
    row('trust-quarantined', t('quarantined'), yes(trust.quarantined), trust.quarantined),
    row('trust-snapshots', t('snapshotReports'), snapshotReports(snapshots), snapshots.dismissed > 0),
  );
}
