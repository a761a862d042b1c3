// The video stage of a video match: the stranger's picture, ours in a corner, the call's state in words —
// "connecting through relay" until the peer connection is up, then which candidate types it really uses
// (read from getStats) — and the hang-up / call-again buttons.

import { h } from '../dom.js';
import { t } from '../i18n.js';
import { icon } from '../icons.js';

/** @param {import('../video.js').VideoCall} call */
export function renderCall(call, { callAgain }) {
  const remote = h('video', { class: 'remote', autoplay: true, playsinline: true, 'data-testid': 'remote-video' });
  const local = h('video', { class: 'local', autoplay: true, playsinline: true, muted: true, 'data-testid': 'local-video' });
  local.muted = true;
  const status = h('span', { 'data-testid': 'call-status' });
  const route = h('p', { class: 'call-route', 'data-testid': 'call-route' });
  const hangUp = h('button', { type: 'button', class: 'danger', onclick: () => call.hangUp(), 'data-testid': 'hang-up' }, t('call.hangUp'));
  const again = h('button', { type: 'button', class: 'primary', onclick: callAgain, 'data-testid': 'call-again' }, t('call.again'));
  const stage = h('div', { class: 'stage' }, remote, local, h('div', { class: 'overlay' }, h('p', { class: 'call-status', role: 'status' }, icon('lock'), status), route), h('div', { class: 'controls' }, hangUp, again));

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
  if (call.localStream) local.srcObject = call.localStream;
  if (call.remoteStream) remote.srcObject = call.remoteStream;
  call.addEventListener('state', show);
  call.addEventListener('local', () => (local.srcObject = call.localStream));
  call.addEventListener('remote', () => remote.srcObject !== call.remoteStream && (remote.srcObject = call.remoteStream));
  show();
  return stage;
}
