// What the unit tests script the server with: a WebSocket the test drives (frames the client sends are kept,
// frames the server would send are delivered) and an unsigned access token with the claims a test needs.

/** A WebSocket whose server is the test. Each test file runs in its own process, so the statics are its own. */
export class FakeSocket {
  /** The latest socket the client opened. */
  static last = null;
  /** Every socket the client opened, in order. */
  static made = [];
  constructor(url, protocols) {
    Object.assign(this, { url, protocols, sent: [], closedWith: null, onSend: null });
    FakeSocket.last = this;
    FakeSocket.made.push(this);
  }
  send(text) {
    const frame = JSON.parse(text);
    this.onSend?.(frame);
    this.sent.push(frame);
  }
  close(code) {
    this.closedWith = code;
  }
  /** The server says something. */
  deliver(frame) {
    this.onmessage({ data: JSON.stringify(frame) });
  }
}

/** An access token with `claims`: the SDK reads its `exp`, the scripted server never checks the signature. */
export const jwt = (claims) => `e30.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;
