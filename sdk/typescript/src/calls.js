// @ts-check
// Video calls of a video match (docs/protocol.md section 11): the RTCConfiguration from `match.found`'s `rtc`
// (relay only: no stranger learns an address), the offer/answer/candidate signalling over the socket (in order,
// one frame at a time, with a rule for two offers crossing), the setup timeout, and the one `rtc.stats` report
// per match with the call's real figures, sent when that call ends. The app passes in how to make an
// RTCPeerConnection (react-native-webrtc's or the browser's) and its camera: this module never imports WebRTC
// and knows no DOM. What the viewer sees of the other side's picture (blurred, revealed) is safety.js's Shield,
// one per Call, whose states the Call emits.

import { Emitter } from './emitter.js';
import { Shield, blurSecsOf } from './safety.js';

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
 * @param {StatsReport} stats
 */
function selectedPair(stats) {
  /** @type {any} */
  let pair = null;
  stats.forEach((/** @type {any} */ r) => r.type === 'transport' && r.selectedCandidatePairId && (pair = stats.get(r.selectedCandidatePairId)));
  if (!pair) stats.forEach((/** @type {any} */ r) => r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded' && (pair = r));
  return pair;
}

/**
 * The optional figures of `rtc.stats` from a `getStats()` report: the selected pair's round
 * trip through the relay, RTP packets sent (`outbound-rtp`) and how many the peer reported lost
 * (`remote-inbound-rtp`, negative counted as 0, never above sent). Integers only; never an address or an id.
 * @param {StatsReport} stats
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
 * A `getStats()` report, as its `forEach` and `get` (a Map in tests).
 * @typedef {Map<string, any> | {forEach: Function, get: Function}} StatsReport
 */

/**
 * What a Call is given. `peerConnection` makes each connection (the first call, an answer, every call again) from
 * the RTCConfiguration the Call builds from `rtc` (relay only); the app passes `(c) => new RTCPeerConnection(c)`
 * (the browser's, or react-native-webrtc's). `localStream`'s tracks are added to each connection before its offer
 * or answer; a Promise of it (the camera being opened) holds the call, and the frames behind it, until it
 * settles. Without `peerConnection` the app attaches one connection itself (`attach`) and cannot call again.
 * @typedef {object} CallOptions
 * @property {number} matchId the video match (`matched`'s `conversation.id`)
 * @property {boolean} initiator `conversation.record.initiator`: who offers first, and whose offer wins when both offer at once
 * @property {import('./frames.js').RtcConfig | null} [rtc] `matched`'s `rtc`, or (after a restart) `GET /v1/rtc/ice-servers`
 * @property {(configuration: ReturnType<typeof rtcConfiguration>) => any} [peerConnection] makes an RTCPeerConnection
 * @property {{getTracks(): any[]} | Promise<{getTracks(): any[]}> | null} [localStream] camera and microphone
 * @property {import('./frames.js').VideoSafety | null} [videoSafety] the match's `video_safety`
 *   (`conversation.record.video_safety`): how long the picture is blurred by policy (3 s without it)
 * @property {(frame: any) => Promise<import('./safety.js').Verdict>} [classifier] classifies a frame on this
 *   device (NSFWJS, Apple's Sensitive Content Analysis through a native module: docs/sdk.md); never sent anywhere
 * @property {() => any} [sampleFrame] a frame of the remote picture for the classifier (a canvas, an ImageData, a
 *   native frame handle), or null when there is none yet; may return a Promise
 * @property {(verdict: import('./safety.js').Verdict) => boolean} [flags] which verdicts blur (default:
 *   NSFWJS's Porn, Hentai or Sexy scoring at least 0.7, any case)
 * @property {number} [sampleIntervalMs] between two classifications (default 1000)
 */

/**
 * The calls of one video match. Create it when the match is found (`matched`), before any `rtc.*` frame can
 * arrive: it answers offers by itself. `start()` calls (the initiator at once; anyone to call again);
 * `hangUp()` ends the call and the match stays; the match's end ends it too. Events (`call.on`): `state`
 * (`{state, why}`: `idle` → `connecting` → `connected`, or `failed` (`why`: `ice`, `media`, `signalling`), or
 * `ended` (`why`: `me`, `peer`, `match`); a call again goes back to `connecting`) and `track` (`{track,
 * streams}`, the other side's media). The match's one `rtc.stats` is sent when its first connected call ends
 * (hang-up by either side, a call again or a new offer replacing it, the match's end), with `getStats()` of that
 * moment so the loss is the whole call's; `failed` when ICE fails or nothing connected within
 * `SETUP_TIMEOUT_MS`. A call hung up, or ended with the match, while connecting is not reported, and the next
 * call starts a fresh clock.
 *
 * The other side's picture has a safety state of its own (`safety` event, `{state, verdict}`; safety.js): `policy`
 * (blurred by the server's policy, `videoSafety.blur_secs` from the first `pictureShown(true)`), `classifier` (the
 * injected classifier flagged a sampled frame), `revealed` (the viewer revealed a flagged picture; for the rest
 * of the match) or `clear`. `reveal()` during `policy` makes it `clear`, the classifier still watching. Frames are
 * classified only while the picture is shown and the call connected, one at a time, and only on this device:
 * nothing of them, nor any verdict, leaves it unless the person files a report (`Client.reportCall`).
 */
export class Call {
  /**
   * @param {import('./client.js').Client} client
   * @param {CallOptions} options
   */
  constructor(client, options) {
    const { matchId, initiator, rtc = null, peerConnection, localStream = null, videoSafety = null } = options;
    this.client = client;
    this.matchId = matchId;
    this.initiator = initiator;
    this.rtc = rtc;
    this.makePeerConnection = peerConnection;
    this.localStream = localStream;
    /** The connection of the call now (the app may read its `getStats()`), null before the first and after the end. */
    this.pc = /** @type {any} */ (null);
    /**
     * The call's state: `idle` (no call yet), `connecting`, `connected`, `failed` or `ended`.
     * @type {'idle' | 'connecting' | 'connected' | 'failed' | 'ended'}
     */
    this.state = 'idle';
    /**
     * Why it failed (`ice`, `media`: no camera, `signalling`) or ended (`me`, `peer`, `match`); else null.
     * @type {string | null}
     */
    this.why = null;
    /**
     * The call's own events (`state`, `track`, `safety`): src/events.d.ts.
     * @type {Emitter<import('./events.js').CallEvents>}
     */
    this.events = new Emitter();
    // The clock of `setup_ms`: from the first offer sent or received of an attempt to connected.
    /** @type {number | null} */
    this.setupStartedAt = null;
    /** @type {number | null} */
    this.setupMs = null;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.setupTimer = undefined;
    this.reported = false;
    // Whether this.pc reached `connected` (its end is then reported).
    this.live = false;
    // Candidates that came before the remote description.
    /** @type {any[]} */
    this.earlyIce = [];
    // Offers, answers, candidates, hang-ups and our own offers, one at a time in order.
    this.queue = Promise.resolve();
    this.disposed = false;
    // What the viewer sees of the other side's picture (safety.js): its changes are this Call's `safety` events.
    this.shield = new Shield({
      blurSecs: blurSecsOf(videoSafety),
      classifier: options.classifier ?? null,
      sampleFrame: options.sampleFrame ?? null,
      flags: options.flags,
      intervalMs: options.sampleIntervalMs,
      onChange: (state) => this.events.emit('safety', { state, verdict: this.shield.verdict }),
    });
    const offRtc = client.on('rtc', ({ matchId: id, frame }) => id === matchId && this.enqueue(() => this.process(frame)));
    const offEnded = client.on('ended', ({ matchId: id }) => id === matchId && void this.dispose());
    this.off = () => (offRtc(), offEnded());
  }

  /**
   * Subscribes to `state`, `track` or `safety` (or `*`: the map `CallEvents`); returns the unsubscribe function.
   * @template {keyof import('./events.js').CallEvents} K
   * @param {K} name
   * @param {(detail: import('./events.js').CallEvents[K]) => void} listener
   * @returns {() => void}
   */
  on(name, listener) {
    return this.events.on(name, listener);
  }

  /**
   * How the other side's picture should be drawn now: `policy` or `classifier` (blurred), `revealed` or `clear`.
   * @returns {import('./safety.js').SafetyState}
   */
  get safety() {
    return this.shield.state;
  }

  /**
   * The classifier's last verdict on the other side's picture (for a report, `Client.reportCall`), null before
   * its first. Stays on this device unless the person reports.
   * @returns {import('./safety.js').Verdict | null}
   */
  get verdict() {
    return this.shield.verdict;
  }

  /**
   * The app draws the other side's picture now (`true`: the video element plays it), or no longer does. The policy
   * blur's seconds count from the first `true`; frames are sampled only while it is shown. Never called, the
   * picture stays blurred by policy.
   * @param {boolean} shown
   */
  pictureShown(shown) {
    this.shield.show(shown);
  }

  /** The viewer asks to see the picture: `policy` becomes `clear`, `classifier` becomes `revealed`. */
  reveal() {
    this.shield.reveal();
  }

  /**
   * Uses `pc` (made with `rtcConfiguration(...)`, the local tracks added) for the call, when the app makes its
   * connection itself rather than passing `peerConnection`.
   * @param {any} pc
   */
  attach(pc) {
    this.pc = pc;
    this.live = false;
    this.earlyIce = [];
    this.wire(pc);
  }

  /**
   * Calls: the initiator's first offer, or anyone's call again (a new connection, the one before is closed). After
   * a restart, the side that comes back calls: the other still holds the dead call.
   * @returns {Promise<void>}
   */
  start() {
    return this.enqueue(async () => {
      const pc = await this.connection();
      if (!pc) return;
      this.beginSetup();
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      this.client.signal({ type: 'rtc.offer', match_id: this.matchId, sdp: offer.sdp });
    });
  }

  /**
   * Ends the call: the match's `rtc.stats` if this was its first connected call, then `rtc.hangup`. The match
   * stays, and either side may call again.
   * @returns {Promise<void>}
   */
  hangUp() {
    return this.enqueue(async () => {
      await this.close({ abandon: true });
      this.client.signal({ type: 'rtc.hangup', match_id: this.matchId });
      this.setState('ended', 'me');
    });
  }

  /**
   * What the connection really uses: the selected candidate pair's types (`relay` both sides on tanis) and the
   * transport to the relay (`udp`, `tcp`, `tls`), from `getStats()`; null before a pair is chosen.
   * @returns {Promise<{local?: string, remote?: string, relayProtocol?: string} | null>}
   */
  async route() {
    if (!this.pc) return null;
    const stats = await this.pc.getStats();
    const pair = selectedPair(stats);
    if (!pair) return null;
    const local = stats.get(pair.localCandidateId);
    return { local: local?.candidateType, remote: stats.get(pair.remoteCandidateId)?.candidateType, relayProtocol: local?.relayProtocol };
  }

  /**
   * The match is over (also called by the Call itself on its `ended`): a connected call is reported, the
   * connection closed, and nothing more is signalled or answered.
   * @returns {Promise<void>}
   */
  dispose() {
    if (this.disposed) return this.queue;
    this.disposed = true;
    this.shield.stop();
    this.off();
    const ended = this.state !== 'ended';
    return this.enqueue(async () => {
      await this.close({ abandon: true });
      if (ended) this.setState('ended', 'match');
    }, true);
  }

  // Runs `task` after everything queued; a failure fails the call (not the frames after it).
  /** @param {() => Promise<void>} task @param {boolean} [always] run even when disposed */
  enqueue(task, always = false) {
    const run = () => (this.disposed && !always ? undefined : task());
    this.queue = this.queue.then(run).catch((e) => {
      this.setState('failed', e?.tanisMedia ? 'media' : 'signalling');
      if (!e?.tanisMedia) this.client.events.emit('error', e);
    });
    return this.queue;
  }

  // A connection for a new call: the attached one while unused; otherwise a new one from the factory, with the local
  // tracks once the camera is open, the one before closed (and reported if it was connected).
  async connection() {
    const attached = this.pc && !this.makePeerConnection && !this.pc.localDescription && !this.pc.remoteDescription;
    if (attached) {
      this.setState('connecting');
      return this.pc;
    }
    if (!this.makePeerConnection) throw new Error('tanis: a call again needs the peerConnection option');
    await this.close({ abandon: false });
    const stream = await Promise.resolve(this.localStream).catch((e) => {
      throw Object.assign(new Error('tanis: no camera or microphone'), { cause: e, tanisMedia: true });
    });
    if (this.disposed) return null;
    const pc = this.makePeerConnection(rtcConfiguration({ rtc: this.rtc }));
    for (const track of stream?.getTracks() ?? []) pc.addTrack(track, stream);
    this.attach(pc);
    this.setState('connecting');
    return pc;
  }

  /** @param {any} pc */
  wire(pc) {
    pc.onicecandidate = (/** @type {any} */ { candidate }) => {
      if (pc !== this.pc) return;
      // `""` is the end of candidates; the server passes it on.
      /** @type {any} */
      const frame = { type: 'rtc.ice', match_id: this.matchId, candidate: candidate?.candidate ?? '' };
      if (candidate?.sdpMid != null) frame.sdp_mid = candidate.sdpMid;
      if (candidate?.sdpMLineIndex != null) frame.sdp_mline_index = candidate.sdpMLineIndex;
      this.client.signal(frame);
    };
    pc.ontrack = (/** @type {any} */ { track, streams }) => pc === this.pc && this.events.emit('track', { track, streams: streams ?? [] });
    pc.onconnectionstatechange = () => {
      if (pc !== this.pc) return;
      if (pc.connectionState === 'connected' && !this.live) {
        this.live = true;
        if (this.setupMs === null && this.setupStartedAt !== null) this.setupMs = Math.round(this.client.now() - this.setupStartedAt);
        clearTimeout(this.setupTimer);
        this.client.signal({ type: 'rtc.connected', match_id: this.matchId });
        this.setState('connected');
      } else if (pc.connectionState === 'failed') {
        const wasLive = this.live;
        this.live = false;
        this.setState('failed', 'ice');
        void this.report(wasLive ? 'connected' : 'failed', pc);
      }
    };
  }

  unwire(/** @type {any} */ pc) {
    pc.onicecandidate = null;
    pc.ontrack = null;
    pc.onconnectionstatechange = null;
  }

  // Ends the connection of the call now: reported when it had connected; otherwise, with `abandon` (a hang-up, the
  // match's end), an attempt still connecting is forgotten, and the next call starts a fresh clock.
  /** @param {{abandon: boolean}} how */
  async close({ abandon }) {
    const pc = this.pc;
    if (abandon && !this.live && !this.reported) {
      clearTimeout(this.setupTimer);
      this.setupStartedAt = null;
    }
    if (!pc) return;
    if (this.live) await this.report('connected', pc);
    this.pc = null;
    this.live = false;
    this.earlyIce = [];
    this.unwire(pc);
    pc.close?.();
  }

  beginSetup() {
    if (this.setupStartedAt !== null) return;
    this.setupStartedAt = this.client.now();
    this.setupTimer = setTimeout(() => this.setupMs === null && void this.report('failed', this.pc), SETUP_TIMEOUT_MS);
  }

  /** @param {any} frame */
  async process(frame) {
    switch (frame.type) {
      case 'rtc.offer': {
        // Two offers crossed: the initiator's wins. It ignores the other's, which drops its own and answers.
        if (this.initiator && this.pc?.signalingState === 'have-local-offer') return;
        const pc = await this.connection();
        if (!pc) return;
        this.beginSetup();
        await pc.setRemoteDescription({ type: 'offer', sdp: frame.sdp });
        await pc.setLocalDescription(await pc.createAnswer());
        this.client.signal({ type: 'rtc.answer', match_id: this.matchId, sdp: pc.localDescription.sdp });
        return this.addEarlyIce();
      }
      case 'rtc.answer':
        if (this.pc?.signalingState !== 'have-local-offer') return;
        await this.pc.setRemoteDescription({ type: 'answer', sdp: frame.sdp });
        return this.addEarlyIce();
      case 'rtc.ice': {
        if (!frame.candidate) return;
        const candidate = { candidate: frame.candidate, sdpMid: frame.sdp_mid ?? null, sdpMLineIndex: frame.sdp_mline_index ?? null };
        if (!this.pc?.remoteDescription) return void this.earlyIce.push(candidate);
        return this.addIce(candidate);
      }
      case 'rtc.hangup':
        await this.close({ abandon: true });
        this.setState('ended', 'peer');
        return this.client.events.emit('hangup', { matchId: this.matchId, by: 'peer' });
    }
  }

  async addEarlyIce() {
    for (const candidate of this.earlyIce.splice(0)) await this.addIce(candidate);
  }

  // A candidate the connection refuses (one of a connection the other side has replaced) is not worth failing over.
  /** @param {any} candidate */
  async addIce(candidate) {
    await this.pc.addIceCandidate(candidate).catch(() => {});
  }

  // This match's one `rtc.stats` (later ones are ignored by the server): the setup time measured at connect (or
  // until giving up) and the figures of `pc`'s whole call. Nothing for an attempt abandoned while connecting.
  /**
   * @param {'connected' | 'failed'} outcome
   * @param {any} [pc] the connection whose figures are reported
   */
  async report(outcome, pc = this.pc) {
    if (this.reported || this.setupStartedAt === null) return;
    this.reported = true;
    clearTimeout(this.setupTimer);
    const setup_ms = Math.min(600_000, this.setupMs ?? Math.round(this.client.now() - this.setupStartedAt));
    const figures = pc ? await pc.getStats().then(callFigures, () => ({})) : {};
    this.client.signal({ type: 'rtc.stats', match_id: this.matchId, outcome, setup_ms, ...figures });
  }

  /** @param {'idle' | 'connecting' | 'connected' | 'failed' | 'ended'} state @param {string | null} [why] */
  setState(state, why = null) {
    if (this.state === state && this.why === why) return;
    this.state = state;
    this.why = why;
    this.shield.connected(state === 'connected');
    this.events.emit('state', { state, why });
  }
}
