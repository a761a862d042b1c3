// The video call of a video match, as this page shows it: the camera and microphone, the streams for the
// <video> elements, what the hang-up and call-again buttons do, and the remote candidates recorded. The call
// itself is the SDK's Call (served at /app/sdk/calls.js, docs/protocol.md section 11): the relay-only
// RTCConfiguration (`iceTransportPolicy: "relay"` whatever the server says, so this browser gathers and uses only
// TURN candidates and never offers its own address), the offers, answers and candidates in order, two offers
// crossing, the setup timeout, and the match's one `rtc.stats` with the call's real loss when its first
// connected call ends.

import { Call } from './sdk/calls.js';

/**
 * Every remote candidate this page has been given, across calls, trickled or inside an SDP: `{source, type,
 * candidate}`, so that a test (or a curious user) can check that none was host or srflx. The server strips them.
 */
export const remoteCandidates = [];

/** A call's state as the call view shows it: the SDK's, with the camera opening (`media`) before it. */
export class VideoCall extends EventTarget {
  /**
   * Opens the camera and microphone and listens for the other side's offer at once: create it when the match
   * is found.
   * @param {import('./sdk/client.js').Client} client
   * @param {{matchId: number, initiator: boolean, rtc: object}} match
   */
  constructor(client, { matchId, initiator, rtc }) {
    super();
    /** @type {MediaStream | null} */
    this.localStream = null;
    /** @type {MediaStream | null} the other side's picture and sound, one stream per call */
    this.remoteStream = null;
    this.mediaFailed = false;
    this.disposed = false;
    /** The camera being opened; rejects when it cannot be (matches.js says so). */
    this.camera = navigator.mediaDevices.getUserMedia({ video: true, audio: true }).then(
      (stream) => {
        if (this.disposed) stream.getTracks().forEach((track) => track.stop());
        else this.localStream = stream;
        this.dispatchEvent(new Event('local'));
        this.changed();
        return stream;
      },
      (e) => {
        this.mediaFailed = true;
        this.changed();
        throw e;
      },
    );
    this.camera.catch(() => {});
    this.call = new Call(client, {
      matchId,
      initiator,
      rtc,
      localStream: this.camera,
      peerConnection: (configuration) => new RTCPeerConnection(configuration),
    });
    this.call.on('state', () => this.changed());
    let streamOf = null;
    this.call.on('track', ({ track }) => {
      if (streamOf !== this.call.pc) {
        streamOf = this.call.pc;
        this.remoteStream = new MediaStream();
      }
      this.remoteStream.addTrack(track);
      this.dispatchEvent(new Event('remote'));
    });
    this.offRtc = client.on('rtc', ({ matchId: id, frame }) => id === matchId && record(frame));
  }

  /** `idle`, `media` (the camera opening), `connecting`, `connected`, `failed` or `ended`. */
  get state() {
    if (this.call.state !== 'idle') return this.call.state;
    if (this.mediaFailed) return 'failed';
    // Waiting for the other side's offer is connecting, to the person.
    return this.localStream ? 'connecting' : 'media';
  }

  /** Why it failed or ended (`me`, `peer`, `media`, `ice`, …), for the view's words. */
  get endedBy() {
    return this.call.state === 'idle' && this.mediaFailed ? 'media' : this.call.why;
  }

  /** The call's RTCPeerConnection (the browser tests read its `getStats()`). */
  get pc() {
    return this.call.pc;
  }

  /** Calls: the initiator at once, the side that came back after a reload, and "call again". */
  callAgain() {
    return this.call.start();
  }

  hangUp() {
    return this.call.hangUp();
  }

  /** The selected candidate pair's types, as `getStats()` reports them: `{local, remote}`, or null. */
  route() {
    return this.call.route();
  }

  /** The match is over (or no longer on screen): the call ends (reported if it had connected), the camera goes off. */
  dispose() {
    if (this.disposed) return;
    this.disposed = true;
    this.offRtc();
    void this.call.dispose();
    for (const track of this.localStream?.getTracks() ?? []) track.stop();
    this.localStream = null;
    this.changed();
  }

  changed() {
    this.dispatchEvent(new Event('state'));
  }
}

/** Records the other side's candidates in what the server relayed to this page. */
function record(frame) {
  if (frame.type === 'rtc.ice' && frame.candidate) {
    remoteCandidates.push({ source: 'trickle', type: candidateType(frame.candidate), candidate: frame.candidate });
  }
  for (const line of frame.type === 'rtc.offer' || frame.type === 'rtc.answer' ? frame.sdp.split(/\r?\n/) : []) {
    if (line.startsWith('a=candidate:')) remoteCandidates.push({ source: 'sdp', type: candidateType(line), candidate: line.slice(2) });
  }
}

function candidateType(candidate) {
  return / typ (\w+)/.exec(candidate)?.[1] ?? 'unknown';
}
