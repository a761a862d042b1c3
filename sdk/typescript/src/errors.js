// @ts-check
// The one error type the SDK throws: it carries the server's stable machine-readable code (docs/errors.md for
// REST, docs/protocol.md section 6 for `error` frames) or one of the SDK's own (`offline`, `timeout`,
// `network`, `signed_out`, `e2e`, `closed`), so an app switches on `code` and never parses a message.

export class TanisError extends Error {
  /**
   * @param {string} code the server's error code, or the SDK's own
   * @param {string} message for humans; may change
   * @param {{status?: number, resetsAt?: string, cause?: unknown}} [extra] the HTTP status of a REST error,
   *   `resets_at` of `quota_exhausted`
   */
  constructor(code, message, extra = {}) {
    super(message);
    this.name = 'TanisError';
    /** Stable: switch on it. */
    this.code = code;
    /** The HTTP status of a REST error; undefined for socket errors. */
    this.status = extra.status;
    /** `resets_at` of a `quota_exhausted` error frame. */
    this.resetsAt = extra.resetsAt;
    if (extra.cause !== undefined) this.cause = extra.cause;
  }

  /**
   * The error of an `error` frame.
   * @param {{code: string, message: string, resets_at?: string}} frame
   */
  static fromFrame(frame) {
    return new TanisError(frame.code, frame.message, { resetsAt: frame.resets_at });
  }
}
