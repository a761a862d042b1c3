// The video call of a video match, as this page shows it: the camera and microphone, the streams for the
// <video> elements, what the hang-up and call-again buttons do, and the remote candidates recorded. The call
// itself is the SDK's Call (served at /app/sdk/calls.js, docs/protocol.md section 11): the relay-only
// RTCConfiguration (`iceTransportPolicy: "relay"` whatever the server says, so this browser gathers and uses only
// TURN candidates and never offers its own address), the offers, answers and candidates in order, two offers
// crossing, the setup timeout, and the match's one `rtc.stats` with the call's real loss when its first
// connected call ends. What the viewer sees of the other side's picture (blurred by policy or by a classifier,
// revealed) is the SDK's too; this page grabs the frames it classifies and, only when the person ticks the box in
// the report, one snapshot (docs/web-client.md, "Blur, reveal, report").

import { Call } from './sdk/calls.js';

/** The size the classifier is handed frames at: NSFWJS's MobileNetV2 reads 224×224. */
const FRAME_SIZE = 224;
/** A snapshot's longest side, and its most bytes: well under the server's 256 KiB. */
const SNAPSHOT_SIDE = 640;
const SNAPSHOT_MAX_BYTES = 160 * 1024;

/**
 * The classifier this page uses, if any: `window.tanisClassifier`, `async (frame) => ({label, score})`, set before a
 * video match starts (by a module of the deployer's own, or a test). The page ships no model; without one the
 * picture is blurred by the server's policy only. `frame` is a 224×224 canvas of the other side's picture.
 */
function injectedClassifier() {
  const classifier = globalThis.tanisClassifier;
  return typeof classifier === 'function' ? classifier : null;
}

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
   * @param {{matchId: number, initiator: boolean, rtc: object, videoSafety?: object | null}} match
   */
  constructor(client, { matchId, initiator, rtc, videoSafety = null }) {
    super();
    /** @type {HTMLVideoElement | null} the element showing the other side (the view's: `show`) */
    this.video = null;
    // The classifier's canvas, reused: the SDK never asks for a frame while one is being classified.
    this.frameCanvas = null;
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
      videoSafety,
      classifier: injectedClassifier(),
      sampleFrame: () => this.frame(),
    });
    this.call.on('state', () => this.changed());
    this.call.on('safety', () => this.dispatchEvent(new Event('safety')));
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

  /** How the other side's picture is drawn: `policy` or `classifier` (blurred), `revealed` or `clear`. */
  get safety() {
    return this.call.safety;
  }

  /** The classifier's last verdict (`{label, score}`), sent only with a report; null without one. */
  get verdict() {
    return this.call.verdict;
  }

  reveal() {
    this.call.reveal();
  }

  /**
   * The element the view shows the other side in: its playing starts the policy blur's seconds and the sampling,
   * which stops while it has nothing to play.
   * @param {HTMLVideoElement} video
   */
  show(video) {
    this.video = video;
    const shown = () => this.call.pictureShown(!video.paused && !video.ended && video.readyState >= 2);
    for (const name of ['playing', 'pause', 'ended', 'emptied']) video.addEventListener(name, shown);
    shown();
  }

  /** The other side's picture now, as the classifier takes it; null while there is none. */
  frame() {
    const video = this.video;
    if (!video || this.disposed || video.readyState < 2 || !video.videoWidth) return null;
    this.frameCanvas ??= Object.assign(document.createElement('canvas'), { width: FRAME_SIZE, height: FRAME_SIZE });
    this.frameCanvas.getContext('2d', { willReadFrequently: true }).drawImage(video, 0, 0, FRAME_SIZE, FRAME_SIZE);
    return this.frameCanvas;
  }

  /**
   * One still of the other side's picture as it is now, unblurred (the blur is only drawn over the element), as a
   * canvas at most SNAPSHOT_SIDE on its longest side; null while there is no picture. Called only when the person
   * ticks the report's box.
   */
  still() {
    const video = this.video;
    if (!video || video.readyState < 2 || !video.videoWidth) return null;
    const scale = Math.min(1, SNAPSHOT_SIDE / Math.max(video.videoWidth, video.videoHeight));
    const canvas = document.createElement('canvas');
    canvas.width = Math.round(video.videoWidth * scale);
    canvas.height = Math.round(video.videoHeight * scale);
    canvas.getContext('2d').drawImage(video, 0, 0, canvas.width, canvas.height);
    return canvas;
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

/**
 * A still as a report's snapshot: JPEG, at lower quality (then smaller) until it fits SNAPSHOT_MAX_BYTES.
 * @param {HTMLCanvasElement} canvas
 * @returns {Promise<{contentType: 'image/jpeg', bytes: Uint8Array}>}
 */
export async function snapshotOf(canvas) {
  for (let source = canvas; ; source = halved(source)) {
    for (const quality of [0.85, 0.7, 0.5]) {
      const blob = await new Promise((resolve) => source.toBlob(resolve, 'image/jpeg', quality));
      if (blob && blob.size <= SNAPSHOT_MAX_BYTES) {
        return { contentType: 'image/jpeg', bytes: new Uint8Array(await blob.arrayBuffer()) };
      }
    }
    if (source.width < 64) throw new Error('tanis: the snapshot does not fit');
  }
}

function halved(canvas) {
  const half = document.createElement('canvas');
  half.width = canvas.width >> 1;
  half.height = canvas.height >> 1;
  half.getContext('2d').drawImage(canvas, 0, 0, half.width, half.height);
  return half;
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
