// The video stage of a video match: the stranger's picture, ours in a corner, the call's state in words —
// "connecting through relay" until the peer connection is up, then which candidate types it really uses
// (read from getStats) — and the hang-up / call-again buttons. The stranger's picture is blurred while the SDK
// says so (the server's policy for its first seconds, or this device's classifier), with a "Show" button over it;
// "Report" files a report from the call, with a snapshot only if the person ticks the box for one.

import { formValues, h, modal, toast } from '../dom.js';
import { t } from '../i18n.js';
import { icon } from '../icons.js';
import { snapshotOf } from '../video.js';

const REPORT_REASONS = ['nudity', 'harassment', 'underage', 'child_sexual_abuse', 'hate', 'spam', 'scam', 'other'];
const BLURRED = ['policy', 'classifier'];

/**
 * @param {import('../video.js').VideoCall} call
 * @param {{callAgain: () => void, report: (report: object) => Promise<boolean>, peer: string}} actions
 */
export function renderCall(call, { callAgain, report, peer }) {
  const remote = h('video', { class: 'remote', autoplay: true, playsinline: true, 'data-testid': 'remote-video' });
  const local = h('video', { class: 'local', autoplay: true, playsinline: true, muted: true, 'data-testid': 'local-video' });
  local.muted = true;
  const status = h('span', { 'data-testid': 'call-status' });
  const route = h('p', { class: 'call-route', 'data-testid': 'call-route' });
  const hangUp = h('button', { type: 'button', class: 'danger', onclick: () => call.hangUp(), 'data-testid': 'hang-up' }, t('call.hangUp'));
  const again = h('button', { type: 'button', class: 'primary', onclick: callAgain, 'data-testid': 'call-again' }, t('call.again'));
  const reportButton = h('button', {
    type: 'button', onclick: () => reportFromCall(call, peer, report), 'data-testid': 'call-report',
  }, t('call.report'));
  const why = h('span', { 'data-testid': 'safety-why' });
  const veil = h('div', { class: 'veil', 'data-testid': 'safety-veil', role: 'status' },
    icon('alert'), why, ' ',
    h('button', { type: 'button', class: 'primary', onclick: () => call.reveal(), 'data-testid': 'reveal' },
      t('call.safety.show')));
  const stage = h('div', { class: 'stage' }, remote, veil, local,
    h('div', { class: 'overlay' }, h('p', { class: 'call-status', role: 'status' }, icon('lock'), status), route),
    h('div', { class: 'controls' }, hangUp, again, reportButton));

  const show = async () => {
    stage.dataset.state = call.state;
    status.textContent = t(`call.state.${call.state}`, { why: t(`call.why.${call.endedBy}`, {}, '') });
    hangUp.hidden = !['media', 'connecting', 'connected'].includes(call.state);
    again.hidden = hangUp.hidden === false;
    route.textContent = '';
    if (call.state === 'connected') {
      // What the connection really uses, not what we asked for.
      const pair = await call.route().catch(() => null);
      if (pair?.local && call.state === 'connected') {
        route.textContent = t('call.route', { local: pair.local, remote: pair.remote });
        stage.dataset.route = `${pair.local}/${pair.remote}`;
      } else if (call.state === 'connected') {
        // Chromium may report `connected` a moment before the pair shows in the stats.
        setTimeout(show, 500);
      }
    }
  };
  // The blur is drawn over the element only (a CSS filter): the frames the classifier reads are the real ones.
  const safety = () => {
    stage.dataset.safety = call.safety;
    veil.hidden = !BLURRED.includes(call.safety);
    why.textContent = t(`call.safety.${call.safety}`, {}, '');
  };
  if (call.localStream) local.srcObject = call.localStream;
  if (call.remoteStream) remote.srcObject = call.remoteStream;
  call.show(remote);
  call.addEventListener('state', show);
  call.addEventListener('safety', safety);
  call.addEventListener('local', () => (local.srcObject = call.localStream));
  call.addEventListener('remote', () => remote.srcObject !== call.remoteStream && (remote.srcObject = call.remoteStream));
  show();
  safety();
  return stage;
}

/**
 * The report dialog of a call: a reason, the person's words, the classifier's last verdict (said, and sent), and a
 * box for one snapshot, unticked. The still is taken when the box is ticked (and dropped when it is unticked),
 * previewed blurred while the picture is, and encoded only when the report is sent.
 */
async function reportFromCall(call, peer, report) {
  let still = null;
  const values = await modal((close) => {
    const preview = h('div', { class: 'snapshot-preview', 'data-testid': 'snapshot-preview' });
    const box = h('input', { type: 'checkbox', 'data-testid': 'report-snapshot' });
    const none = h('p', { class: 'muted small', hidden: true }, t('report.snapshotNone'));
    box.addEventListener('change', () => {
      still = box.checked ? call.still() : null;
      // No picture to take (the call not connected yet, or over): the box says so by staying unticked.
      none.hidden = !box.checked || Boolean(still);
      if (!still) box.checked = false;
      preview.replaceChildren(...(still ? [still] : []));
      preview.classList.toggle('blurred', BLURRED.includes(call.safety));
    });
    const verdict = call.verdict;
    const form = h('form', { class: 'stack', onsubmit: (e) => (e.preventDefault(), close(formValues(form))) },
      h('h2', {}, t('report.title', { peer })),
      h('label', {}, t('report.reason'),
        h('select', { name: 'reason', required: true, 'data-testid': 'report-reason' },
          REPORT_REASONS.map((r) => h('option', { value: r }, t(`report.reason.${r}`))))),
      h('label', {}, t('report.details'), h('textarea', { name: 'details', maxlength: 1000, rows: 3 })),
      verdict && h('p', { class: 'muted small', 'data-testid': 'report-verdict' },
        t('report.verdict', { label: verdict.label, score: Math.round(verdict.score * 100) })),
      h('label', { class: 'check' }, box, h('span', {}, t('report.snapshot'))),
      h('p', { class: 'muted small' }, t('report.snapshotHelp')),
      none,
      preview,
      h('p', { class: 'muted small' }, t('report.callPrivacy')),
      h('div', { class: 'row end' },
        h('button', { type: 'button', onclick: () => close() }, t('dialog.cancel')),
        h('button', { type: 'submit', class: 'danger', 'data-testid': 'report-submit' }, t('report.send'))));
    return form;
  });
  if (!values) return;
  let snapshot = null;
  try {
    snapshot = still && (await snapshotOf(still));
  } catch {
    // Not sent without the picture the person chose to attach: they decide again.
    return toast(t('report.snapshotFailed'), 'error');
  }
  await report({ reason: values.reason, details: values.details, snapshot });
}
