// @ts-check
// What a report from a video call carries (`call` of a report in GET /v1/admin/reports): the reporter's classifier
// verdict, if their device had one, and the snapshot they chose to attach. Neither is evidence the way a franked
// message is: the server never sees the video, so a snapshot is whatever image the reporter's client sent. The
// console says so beside it, every time, and it carries no weight toward the automatic ban. The image is fetched
// only when a moderator asks (every view is audited as `admin.snapshot_viewed`) and shown from a blob: URL, since
// it needs the bearer token an <img src> cannot send.

import { callBlob } from './api.js';
import { el } from './dom.js';
import { percent } from './figures.js';
import { t } from './i18n.js';
import { snapshotReports } from './standing.js';

function verdict(v) {
  const shown = v ? [el('strong', {}, v.label), ` · ${percent(v.score)}`] : [t('none')];
  return el('div', { testid: 'call-verdict', class: v ? null : 'muted' }, `${t('classifier')}: `, ...shown);
}

function snapshot(reportId, shot) {
  const place = el('div', { class: 'snapshot-view' });
  const show = async () => {
    try {
      const blob = await callBlob('GET', `/v1/admin/reports/${reportId}/snapshot`);
      const url = URL.createObjectURL(blob);
      // Once decoded the picture no longer needs its URL: revoked, it cannot be reopened from this page's memory.
      const revoke = () => URL.revokeObjectURL(url);
      const img = el('img', { src: url, alt: t('snapshotAlt'), testid: 'snapshot', onload: revoke, onerror: revoke });
      place.replaceChildren(img);
      button.hidden = true;
    } catch (e) {
      place.replaceChildren(el('p', { class: 'problem', role: 'alert' }, /** @type {Error} */ (e).message));
    }
  };
  const button = el('button', { type: 'button', testid: 'view-snapshot', onclick: show }, t('viewSnapshot'));
  const what = `${t('snapshotAttached')} (${shot.content_type}, ${shot.bytes} ${t('bytes')}) `;
  return el('div', {}, el('div', {}, what, button), place);
}

/** The call part of report `r`, or nothing for a chat report. */
export function callPart(r) {
  if (!r.call) return null;
  const { call } = r;
  return el(
    'div',
    { class: 'call', testid: 'call' },
    el('div', { class: 'flag-line' }, el('span', { class: 'flag' }, t('fromCall'))),
    verdict(call.verdict),
    // The statement stands beside the picture, so that no one looks at one without the other.
    el(
      'div',
      { class: 'snapshot' },
      call.snapshot && snapshot(r.id, call.snapshot),
      !call.verifiable && el('p', { class: 'unverifiable', testid: 'unverifiable' }, t('unverifiable')),
    ),
  );
}

/** The reporter's snapshot reports of the last 30 days, shown once they have filed any. */
export function reporterSignal(r) {
  const counts = r.reporter_snapshot_reports;
  if (!counts || counts.filed === 0) return null;
  const text = `${t('reporterSnapshots')}: ${snapshotReports(counts)}`;
  return el('div', { class: 'muted', testid: 'reporter-snapshots' }, text);
}
