// @ts-check
// What the viewer of a video match sees of the other side's picture: blurred by the server's policy for its first
// seconds, blurred by the viewer's own classifier when it flags a sampled frame, revealed when the viewer says so,
// or clear (docs/sdk.md, "Video safety"). The classifier and the frame grabber are the app's (this module knows no
// DOM and ships no model); they run on this device, and nothing this module sees or decides is sent anywhere: a
// report, filed by the person, is api.js's `reportCall`. calls.js owns one Shield per Call and emits its states.

/** Seconds of policy blur when the match carries no `video_safety` (an older server): the server's own default. */
export const DEFAULT_BLUR_SECS = 3;

/** How often a frame is classified while the picture is shown and the call connected, by default. */
export const SAMPLE_INTERVAL_MS = 1_000;

/** The score from which the default `flags` takes one of NSFWJS's sexual labels as a flag. */
export const FLAG_SCORE = 0.7;

// NSFWJS's classes that blur (its others are Neutral and Drawing). Lower case: labels are compared case-insensitively.
const FLAGGED_LABELS = new Set(['porn', 'hentai', 'sexy']);

/**
 * A classifier's answer about one frame: its top label and that label's score in 0..1.
 * @typedef {{label: string, score: number}} Verdict
 */

/**
 * Why the other side's picture is drawn as it is:
 * - `policy`: blurred by the server's policy (`video_safety.blur_secs` from when the picture first shows);
 * - `classifier`: blurred because the viewer's classifier flagged a frame;
 * - `revealed`: the viewer chose to see a picture the classifier flagged;
 * - `clear`: shown.
 * @typedef {'policy' | 'classifier' | 'revealed' | 'clear'} SafetyState
 */

/**
 * The default `flags`: NSFWJS's `Porn`, `Hentai` or `Sexy` (any case) with a score of at least FLAG_SCORE.
 * @param {Verdict} verdict
 * @returns {boolean}
 */
export function flaggedByDefault(verdict) {
  return FLAGGED_LABELS.has(verdict.label.toLowerCase()) && verdict.score >= FLAG_SCORE;
}

/**
 * A classifier's answer as a report can carry it (`{label, score}`, the label 1 to 64 characters, the score in
 * 0..1), or null for anything else: an answer the server would refuse is no verdict.
 * @param {unknown} answer
 * @returns {Verdict | null}
 */
export function verdictOf(answer) {
  const { label, score } = /** @type {any} */ (answer ?? {});
  if (typeof label !== 'string' || label.length === 0 || label.length > 64) return null;
  if (typeof score !== 'number' || !(score >= 0 && score <= 1)) return null;
  return { label, score };
}

/**
 * The seconds of policy blur a match's `video_safety` asks for; DEFAULT_BLUR_SECS without a usable one.
 * @param {{blur_secs?: number} | null | undefined} videoSafety `match.found`'s `video_safety` (frames.d.ts)
 */
export function blurSecsOf(videoSafety) {
  const secs = videoSafety?.blur_secs;
  return typeof secs === 'number' && secs >= 0 && Number.isFinite(secs) ? secs : DEFAULT_BLUR_SECS;
}

/**
 * The state machine of one video match's remote picture. It starts in `policy`. The policy blur runs for
 * `blurSecs` from the first `show(true)`, then the picture is `clear`. While it is `policy` or `clear`, the picture
 * shown and the call connected, one sampled frame is classified every `intervalMs` (counted from the end of the
 * previous classification, so a slow device is never asked for two at once); a verdict that `flags` holds for
 * makes it `classifier`, and the classifier stops: what it would say next cannot lift the blur. `reveal()` makes
 * `policy` `clear` (the classifier still watching) and `classifier` `revealed`, which lasts as long as the Shield.
 * A classifier or grabber that throws, or answers something not a verdict, is ignored for that frame; one that
 * never settles stops the sampling (never more than one classification at a time), and the policy blur still ends.
 */
export class Shield {
  /**
   * @param {object} options
   * @param {number} options.blurSecs the policy blur (blurSecsOf)
   * @param {((frame: any) => Promise<Verdict>) | null} [options.classifier] runs on this device only
   * @param {(() => any) | null} [options.sampleFrame] a frame of the remote picture, or null when there is none yet
   * @param {(verdict: Verdict) => boolean} [options.flags] which verdicts blur (default flaggedByDefault)
   * @param {number} [options.intervalMs] default SAMPLE_INTERVAL_MS
   * @param {(state: SafetyState) => void} options.onChange
   */
  constructor({ blurSecs, classifier = null, sampleFrame = null, flags, intervalMs, onChange }) {
    this.blurMs = blurSecs * 1000;
    this.classifier = classifier;
    this.sampleFrame = sampleFrame;
    this.flags = flags ?? flaggedByDefault;
    this.intervalMs = intervalMs ?? SAMPLE_INTERVAL_MS;
    this.onChange = onChange;
    /** @type {SafetyState} */
    this.state = 'policy';
    /** The classifier's last verdict (kept for a report), null before its first. @type {Verdict | null} */
    this.verdict = null;
    // Whether the app draws the remote picture now, and whether the call is connected: sampling needs both.
    this.visible = false;
    this.live = false;
    // The policy blur's clock starts once, at the picture's first showing.
    this.policyStarted = false;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.policyTimer = undefined;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.sampleTimer = undefined;
    // A classification is running: no other starts until it settles.
    this.busy = false;
    this.stopped = false;
  }

  /** The app shows (`true`) or stops showing (`false`) the remote picture. @param {boolean} visible */
  show(visible) {
    if (this.stopped) return;
    this.visible = visible;
    if (visible && !this.policyStarted) {
      this.policyStarted = true;
      this.policyTimer = setTimeout(() => this.state === 'policy' && this.set('clear'), this.blurMs);
    }
    this.schedule();
  }

  /** The call connected (`true`) or is no longer connected. @param {boolean} live */
  connected(live) {
    this.live = live;
    this.schedule();
  }

  /** The viewer asks to see the picture. */
  reveal() {
    if (this.stopped) return;
    if (this.state === 'policy') {
      clearTimeout(this.policyTimer);
      this.set('clear');
    } else if (this.state === 'classifier') {
      this.set('revealed');
    }
  }

  /** The match is over: no timer is left, nothing more is sampled or emitted. */
  stop() {
    this.stopped = true;
    clearTimeout(this.policyTimer);
    clearTimeout(this.sampleTimer);
    this.sampleTimer = undefined;
  }

  get watching() {
    const open = this.state === 'policy' || this.state === 'clear';
    return !this.stopped && open && this.visible && this.live && Boolean(this.classifier && this.sampleFrame);
  }

  // The next sample's timer, when sampling is due and none is set or running; none when it is not.
  schedule() {
    if (!this.watching) {
      clearTimeout(this.sampleTimer);
      this.sampleTimer = undefined;
      return;
    }
    if (this.sampleTimer !== undefined || this.busy) return;
    this.sampleTimer = setTimeout(() => {
      this.sampleTimer = undefined;
      void this.sample();
    }, this.intervalMs);
  }

  async sample() {
    if (!this.watching) return;
    this.busy = true;
    try {
      const frame = await /** @type {() => any} */ (this.sampleFrame)();
      if (frame == null || !this.watching) return;
      const verdict = verdictOf(await /** @type {(frame: any) => Promise<Verdict>} */ (this.classifier)(frame));
      if (!verdict || this.stopped) return;
      this.verdict = verdict;
      if ((this.state === 'policy' || this.state === 'clear') && this.flags(verdict)) {
        clearTimeout(this.policyTimer);
        this.set('classifier');
      }
    } catch {
      // A frame the classifier cannot read is no verdict; the next sample tries again.
    } finally {
      this.busy = false;
      this.schedule();
    }
  }

  /** @param {SafetyState} state */
  set(state) {
    this.state = state;
    this.onChange(state);
  }
}
