// @ts-check
// Video calls of a video match (docs/protocol.md section 11): the RTCConfiguration from `match.found`'s `rtc`
// (relay only: no stranger learns an address), the offer/answer/candidate signalling over the socket, and the
// one `rtc.stats` report per match with the call's real figures. The app creates and owns the RTCPeerConnection
// (react-native-webrtc or the browser's) and passes it in: this module never imports WebRTC.

/** How long a call may take to connect before it is reported failed. */
export const SETUP_TIMEOUT_MS = 30_000;

/**
 * The RTCConfiguration for a video match: the server's TURN servers, and `iceTransportPolicy: 'relay'` always.
 * @param {{rtc?: import('./frames.js').RtcConfig | null}} matchFound the `matched` event's detail or the frame
 * @returns {{iceServers: {urls: string[], username?: string, credential?: string}[], iceTransportPolicy: 'relay'}}
 */
export function rtcConfiguration(matchFound) {
  const servers = matchFound?.rtc?.ice_servers ?? [];
  return {
    // Only the three fields RTCIceServer knows; a missing credential stays missing (never `null`).
    iceServers: servers.map(({ urls, username, credential }) => ({
      urls,
      ...(username != null && { username }),
      ...(credential != null && { credential }),
    })),
    iceTransportPolicy: 'relay',
  };
}

/**
 * The selected candidate pair of a `getStats()` report, or null before one is chosen.
 * @param {Map<string, any> | {forEach: Function, get: Function}} stats
 */
function selectedPair(stats) {
  /** @type {any} */
  let pair = null;
  stats.forEach((/** @type {any} */ r) => r.type === 'transport' && r.selectedCandidatePairId && (pair = stats.get(r.selectedCandidatePairId)));
  if (!pair) stats.forEach((/** @type {any} */ r) => r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded' && (pair = r));
  return pair;
}

/**
 * The optional figures of `rtc.stats` from a `getStats()` report (web/video.js's rule): the selected pair's round
 * trip through the relay, RTP packets sent (`outbound-rtp`) and how many the peer reported lost
 * (`remote-inbound-rtp`, negative counted as 0, never above sent). Integers only; never an address or an id.
 * @param {Map<string, any> | {forEach: Function, get: Function}} stats
 * @returns {{rtt_ms?: number, packets_sent?: number, packets_lost?: number}}
 */
export function callFigures(stats) {
  /** @type {{rtt_ms?: number, packets_sent?: number, packets_lost?: number}} */
  const figures = {};
  const rtt = selectedPair(stats)?.currentRoundTripTime;
  if (Number.isFinite(rtt)) figures.rtt_ms = Math.min(60_000, Math.round(rtt * 1000));
  /** @type {number | null} */
  let sent = null;
  let lost = 0;
  stats.forEach((/** @type {any} */ r) => {
    if (r.type === 'outbound-rtp') sent = (sent ?? 0) + (r.packetsSent ?? 0);
    if (r.type === 'remote-inbound-rtp') lost += Math.max(0, r.packetsLost ?? 0);
  });
  if (sent !== null) Object.assign(figures, { packets_sent: sent, packets_lost: Math.min(lost, sent) });
  return figures;
}

/**
 * One call of a video match. Wire it with `call.attach(pc)`; the initiator calls `call.start()` to send the
 * offer; the responder answers automatically. `hangUp()` sends `rtc.stats` (from `pc.getStats()` at that moment,
 * so the loss is the whole call's) and `rtc.hangup`.
 */
export class Call {
  /**
   * @param {import('./client.js').Client} client
   * @param {{matchId: number, initiator: boolean}} match `matched` event's conversation id and role
   */
  constructor(client, { matchId, initiator }) {
    this.client = client;
    this.matchId = matchId;
    this.initiator = initiator;
    /** @type {any} the app's RTCPeerConnection */
    this.pc = null;
    /** @type {number | null} when the offer/answer exchange started (the clock of `setup_ms`) */
    this.setupStartedAt = null;
    /** @type {number | null} setup time, once connected */
    this.setupMs = null;
    this.reported = false;
    /** @type {any[]} candidates that came before the remote description */
    this.earlyIce = [];
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.setupTimer = undefined;
    this.queue = Promise.resolve();
    this.off = client.on('rtc', ({ matchId: id, frame }) => {
      if (id === this.matchId) this.queue = this.queue.then(() => this.process(frame)).catch((e) => client.events.emit('error', e));
    });
  }

  /** @param {any} pc an RTCPeerConnection made with `rtcConfiguration(...)` */
  attach(pc) {
    this.pc = pc;
    pc.onicecandidate = (/** @type {any} */ { candidate }) => {
      /** @type {any} */
      const frame = { type: 'rtc.ice', match_id: this.matchId, candidate: candidate?.candidate ?? '' };
      if (candidate?.sdpMid != null) frame.sdp_mid = candidate.sdpMid;
      if (candidate?.sdpMLineIndex != null) frame.sdp_mline_index = candidate.sdpMLineIndex;
      this.client.signal(frame);
    };
    pc.onconnectionstatechange = () => {
      if (pc !== this.pc) return;
      if (pc.connectionState === 'connected' && this.setupMs === null && this.setupStartedAt !== null) {
        this.setupMs = Math.round(this.client.now() - this.setupStartedAt);
        clearTimeout(this.setupTimer);
        this.client.signal({ type: 'rtc.connected', match_id: this.matchId });
      } else if (pc.connectionState === 'failed') {
        void this.report('failed');
      }
    };
  }

  /** The initiator's offer. */
  async start() {
    this.beginSetup();
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    this.client.signal({ type: 'rtc.offer', match_id: this.matchId, sdp: offer.sdp });
  }

  beginSetup() {
    if (this.setupStartedAt !== null) return;
    this.setupStartedAt = this.client.now();
    this.setupTimer = setTimeout(() => this.setupMs === null && this.report('failed'), SETUP_TIMEOUT_MS);
  }

  /** @param {any} frame */
  async process(frame) {
    const pc = this.pc;
    if (!pc) return;
    switch (frame.type) {
      case 'rtc.offer':
        this.beginSetup();
        await pc.setRemoteDescription({ type: 'offer', sdp: frame.sdp });
        await pc.setLocalDescription(await pc.createAnswer());
        this.client.signal({ type: 'rtc.answer', match_id: this.matchId, sdp: pc.localDescription.sdp });
        return this.addEarlyIce();
      case 'rtc.answer':
        if (pc.signalingState !== 'have-local-offer') return;
        await pc.setRemoteDescription({ type: 'answer', sdp: frame.sdp });
        return this.addEarlyIce();
      case 'rtc.ice': {
        if (!frame.candidate) return;
        const candidate = { candidate: frame.candidate, sdpMid: frame.sdp_mid ?? null, sdpMLineIndex: frame.sdp_mline_index ?? null };
        if (!pc.remoteDescription) return void this.earlyIce.push(candidate);
        return pc.addIceCandidate(candidate);
      }
      case 'rtc.hangup':
        await this.report(this.setupMs === null ? 'failed' : 'connected');
        return this.client.events.emit('hangup', { matchId: this.matchId, by: 'peer' });
    }
  }

  async addEarlyIce() {
    for (const candidate of this.earlyIce.splice(0)) await this.pc.addIceCandidate(candidate);
  }

  /**
   * This match's one `rtc.stats` (later ones are ignored by the server): connected with the setup time measured
   * at connect and the figures of the whole call, or failed. Nothing for a call abandoned before it began.
   * @param {'connected' | 'failed'} outcome
   */
  async report(outcome) {
    if (this.reported || this.setupStartedAt === null) return;
    this.reported = true;
    clearTimeout(this.setupTimer);
    const setup_ms = Math.min(600_000, this.setupMs ?? Math.round(this.client.now() - this.setupStartedAt));
    const figures = this.pc ? await this.pc.getStats().then(callFigures, () => ({})) : {};
    this.client.signal({ type: 'rtc.stats', match_id: this.matchId, outcome, setup_ms, ...figures });
  }

  /** Ends the call: `rtc.stats` with the whole call's figures, then `rtc.hangup`. The match stays. */
  async hangUp() {
    await this.report(this.setupMs === null ? 'failed' : 'connected');
    this.client.signal({ type: 'rtc.hangup', match_id: this.matchId });
    this.dispose();
  }

  dispose() {
    clearTimeout(this.setupTimer);
    this.off();
    if (this.pc) {
      this.pc.onicecandidate = null;
      this.pc.onconnectionstatechange = null;
    }
  }
}
