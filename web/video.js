// A video call for one video match: WebRTC signalled over the socket (`rtc.*`, docs/protocol.md section 11),
// relay-only. The peer connection is built with `iceTransportPolicy: "relay"` whatever the server's config
// says, so this browser gathers and uses only TURN candidates and never offers its own address; the server
// strips any other candidate too. Every remote candidate the page is handed (trickled or inside the SDP) is
// recorded in `remoteCandidates`, so a test — or a curious user — can check that none was host or srflx.
// Each match's first call that connects or fails is reported once with `rtc.stats` (connected or failed, setup time, relay round trip,
// packet loss: numbers only), so operators see call quality.

// The protocol's rules come from the SDK (served at /app/sdk/): the relay-only RTCConfiguration, the setup timeout
// after which a call is reported failed (it may still connect; it is not torn down), and the figures of `rtc.stats`.
import { SETUP_TIMEOUT_MS, callFigures, rtcConfiguration } from './sdk/calls.js';

/** Every remote candidate this page has been given, across calls: `{source, type, candidate}`. */
export const remoteCandidates = [];

export class Call extends EventTarget {
  /**
   * @param {{matchId: number, initiator: boolean, rtc: {ice_servers: object[]}, send: (frame: object) => boolean}} options
   */
  constructor({ matchId, initiator, rtc, send }) {
    super();
    this.matchId = matchId;
    this.initiator = initiator;
    this.rtc = rtc;
    this.send = send;
    this.pc = null;
    this.localStream = null;
    this.remoteStream = null;
    this.earlyIce = [];
    /** idle → media → connecting → connected; or failed, ended. */
    this.state = 'idle';
    /** When the first offer/answer exchange started (`performance.now()`), and whether `rtc.stats` went out. */
    this.setupStartedAt = null;
    this.reported = false;
  }

  /** Opens camera and microphone (once); the initiator then sends the offer, the responder waits for it. */
  start() {
    this.starting ??= (async () => {
      this.setState('media');
      try {
        this.localStream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
      } catch (e) {
        this.setState('failed', 'media');
        throw e;
      }
      this.dispatchEvent(new Event('local'));
      if (this.initiator) await this.offer();
      else this.setState('connecting');
    })();
    return this.starting;
  }

  /** Calls (again): a new peer connection and an offer. */
  async offer() {
    this.earlyIce = [];
    this.connect();
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    this.send({ type: 'rtc.offer', match_id: this.matchId, sdp: offer.sdp });
  }

  connect() {
    this.close();
    if (this.setupStartedAt === null) {
      this.setupStartedAt = performance.now();
      this.setupTimer = setTimeout(() => this.reportStats('failed'), SETUP_TIMEOUT_MS);
    }
    const pc = new RTCPeerConnection(rtcConfiguration({ rtc: this.rtc }));
    this.pc = pc;
    this.remoteStream = new MediaStream();
    for (const track of this.localStream.getTracks()) pc.addTrack(track, this.localStream);
    pc.ontrack = (event) => {
      this.remoteStream.addTrack(event.track);
      this.dispatchEvent(new Event('remote'));
    };
    pc.onicecandidate = ({ candidate }) => {
      // `""` is the end of candidates; the server passes it on.
      const frame = { type: 'rtc.ice', match_id: this.matchId, candidate: candidate?.candidate ?? '' };
      if (candidate?.sdpMid != null) frame.sdp_mid = candidate.sdpMid;
      if (candidate?.sdpMLineIndex != null) frame.sdp_mline_index = candidate.sdpMLineIndex;
      this.send(frame);
    };
    pc.onconnectionstatechange = () => {
      if (pc !== this.pc) return;
      if (pc.connectionState === 'connected') {
        this.send({ type: 'rtc.connected', match_id: this.matchId });
        this.setState('connected');
        this.reportStats('connected');
      } else if (pc.connectionState === 'failed') {
        this.setState('failed', 'ice');
        this.reportStats('failed');
      }
    };
    this.setState('connecting');
  }

  /** Frames from the peer (already filtered by the server), one at a time, in order. */
  handle(frame) {
    this.queue = (this.queue ?? Promise.resolve())
      .then(() => this.process(frame))
      .catch(() => this.setState('failed', 'signalling'));
    return this.queue;
  }

  async process(frame) {
    switch (frame.type) {
      case 'rtc.offer':
        await this.start();
        this.connect();
        this.recordSdp(frame.sdp);
        await this.pc.setRemoteDescription({ type: 'offer', sdp: frame.sdp });
        await this.pc.setLocalDescription(await this.pc.createAnswer());
        this.send({ type: 'rtc.answer', match_id: this.matchId, sdp: this.pc.localDescription.sdp });
        return this.addEarlyIce();
      case 'rtc.answer':
        if (!this.pc || this.pc.signalingState !== 'have-local-offer') return;
        this.recordSdp(frame.sdp);
        await this.pc.setRemoteDescription({ type: 'answer', sdp: frame.sdp });
        return this.addEarlyIce();
      case 'rtc.ice':
        if (!frame.candidate) return;
        remoteCandidates.push({ source: 'trickle', type: candidateType(frame.candidate), candidate: frame.candidate });
        if (!this.pc?.remoteDescription) return void this.earlyIce.push(frame);
        return this.addIce(frame);
      case 'rtc.hangup':
        this.abandonSetup();
        this.earlyIce = [];
        this.close();
        return this.setState('ended', 'peer');
    }
  }

  async addEarlyIce() {
    const early = this.earlyIce.splice(0);
    for (const frame of early) await this.addIce(frame);
  }

  async addIce(frame) {
    const init = { candidate: frame.candidate, sdpMid: frame.sdp_mid ?? null, sdpMLineIndex: frame.sdp_mline_index ?? null };
    // A candidate the connection refuses (e.g. for an m-line it no longer has) is not worth failing the call over.
    await this.pc.addIceCandidate(init).catch(() => {});
  }

  recordSdp(sdp) {
    for (const line of sdp.split(/\r?\n/)) {
      if (line.startsWith('a=candidate:')) {
        remoteCandidates.push({ source: 'sdp', type: candidateType(line), candidate: line.slice(2) });
      }
    }
  }

  /** The types of the selected candidate pair, from `getStats()`: `{local, remote}` or null before one is chosen. */
  async selectedPair() {
    if (!this.pc) return null;
    const stats = await this.pc.getStats();
    const pair = selectedPair(stats);
    if (!pair) return null;
    return { local: stats.get(pair.localCandidateId)?.candidateType, remote: stats.get(pair.remoteCandidateId)?.candidateType };
  }

  /** Sends this match's one `rtc.stats`; later outcomes (a call again, the timeout after a success) are not sent. */
  async reportStats(outcome) {
    if (this.reported || this.setupStartedAt === null) return;
    this.reported = true;
    clearTimeout(this.setupTimer);
    const setup_ms = Math.round(performance.now() - this.setupStartedAt);
    const figures = this.pc ? await this.pc.getStats().then(callFigures, () => ({})) : {};
    this.send({ type: 'rtc.stats', match_id: this.matchId, outcome, setup_ms, ...figures });
  }

  /**
   * A call hung up, or ended with the match, while it was connecting is neither a success nor a failure: nothing is
   * reported for it, and a call again starts a fresh clock.
   */
  abandonSetup() {
    clearTimeout(this.setupTimer);
    if (!this.reported) this.setupStartedAt = null;
  }

  /** Ends the call (the match stays: `match.leave` ends that). */
  hangUp() {
    this.abandonSetup();
    this.send({ type: 'rtc.hangup', match_id: this.matchId });
    this.close();
    this.setState('ended', 'me');
  }

  close() {
    if (this.pc) {
      this.pc.onconnectionstatechange = null;
      this.pc.close();
    }
    this.pc = null;
  }

  /** Leaves the camera and microphone too: the match is over. */
  dispose() {
    this.abandonSetup();
    this.close();
    for (const track of this.localStream?.getTracks() ?? []) track.stop();
    this.localStream = null;
    this.setState('ended', this.state === 'ended' ? this.endedBy : 'match');
  }

  setState(state, why = null) {
    this.state = state;
    if (state === 'ended' || state === 'failed') this.endedBy = why;
    this.dispatchEvent(new Event('state'));
  }
}

/** The selected candidate pair of a `getStats()` report, or null before one is chosen. */
function selectedPair(stats) {
  let pair = null;
  stats.forEach((r) => r.type === 'transport' && r.selectedCandidatePairId && (pair = stats.get(r.selectedCandidatePairId)));
  if (!pair) stats.forEach((r) => r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded' && (pair = r));
  return pair;
}

function candidateType(candidate) {
  return / typ (\w+)/.exec(candidate)?.[1] ?? 'unknown';
}
