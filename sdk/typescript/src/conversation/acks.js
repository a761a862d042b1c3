// @ts-check
// A conversation's acknowledgements of what it received (docs/protocol.md section 12). Version 1: each message is
// acknowledged at once with `msg.ack`, and one that cannot leave (offline) waits in the record's `unacked` for the
// next `resume.done`. Version 2: what is owed rides on the conversation's next `msg.send` (outbox.js asks `riding`),
// or leaves as one `msg.ack` up to the highest owed once ACK_DELAY_MS pass without one.

/**
 * Version 2: how long a received message waits for a `msg.send` of ours to carry its acknowledgement before a
 * `msg.ack` goes on its own (docs/protocol.md, "Version 2"). Short against what a person notices (the peer's
 * "delivered" mark), long against a reply typed in a chat burst, and longer than a round trip, so a burst of
 * messages is acknowledged once.
 */
export const ACK_DELAY_MS = 150;

export class Acks {
  /**
   * @param {any} record the conversation's record: its `match_id` and `unacked`
   * @param {import('../conversation.js').Port} port `send`, and `link` for the protocol version
   */
  constructor(record, port) {
    this.record = record;
    this.port = port;
    /** Version 2: the highest seq received and not yet acknowledged (0: nothing owed). */
    this.owed = 0;
    /** @type {ReturnType<typeof setTimeout> | undefined} the delayed `msg.ack` of what is owed */
    this.timer = undefined;
  }

  /** Whether the connection speaks version 2 (cumulative acknowledgements), as `hello.protocol` says. */
  get cumulative() {
    return this.port.link().protocol >= 2;
  }

  /** The peer's message `seq` was processed. @param {number} seq */
  received(seq) {
    if (this.cumulative) this.owe(seq);
    else if (!this.ack(seq)) this.record.unacked.push(seq);
  }

  /** After `resume.done`: the acknowledgements that could not leave. */
  flush() {
    if (this.cumulative) {
      // One acknowledgement up to the highest covers whatever version 1 left owed too.
      const owed = Math.max(this.owed, ...this.record.unacked);
      this.record.unacked = [];
      if (owed > 0) this.owe(owed);
      return;
    }
    this.record.unacked = this.record.unacked.filter((/** @type {number} */ seq) => !this.ack(seq));
  }

  /** @param {number} seq */
  ack(seq) {
    return this.port.send({ type: 'msg.ack', match_id: this.record.match_id, seq });
  }

  /**
   * Version 2: `seq` is received and owed; it rides on our next send, or leaves as one `msg.ack` up to the
   * highest owed once ACK_DELAY_MS pass without one.
   * @param {number} seq
   */
  owe(seq) {
    this.owed = Math.max(this.owed, seq);
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      // Offline: kept owed; the next connection's `flush` owes it again.
      if (this.owed && this.ack(this.owed)) this.settle(this.owed);
    }, ACK_DELAY_MS);
  }

  /** What rides on a `msg.send` leaving now as its `ack` (0: nothing). */
  riding() {
    return this.cumulative ? this.owed : 0;
  }

  /** @param {number} seq acknowledged: nothing up to it is owed any more */
  settle(seq) {
    if (this.owed > seq) return;
    this.owed = 0;
    this.stop();
  }

  stop() {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
