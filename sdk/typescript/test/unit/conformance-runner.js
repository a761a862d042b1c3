// The TypeScript runner of the conformance corpus (conformance/README.md, the contract every runner follows): one
// scenario against the real SDK (`Client`) on the test kit's scripted server, which answers nothing by itself
// (`autoReply: false`: every server frame is the scenario's, but a `pong`), on a FakeClock that only `advance_ms`,
// `backoff` and a drop's reconnect move. The runner plays the stranger with real keys, so that what the client
// seals is opened and checked, and what the stranger seals is what the client must open; and the REST server
// (conformance-kit.js), whose token requests wait for the scenario's answers.

import assert from 'node:assert/strict';

import { Call, Client, MemoryStorage } from '../../src/index.js';
import { counterOf, establish, toBase64 } from '../../src/crypto/e2e.js';
import { frank, unfrank } from '../../src/crypto/franking.js';
import { x25519 } from '../../src/crypto/vendor/noble.js';
import { FakeClock, ScriptedServer, settle, until } from '@tanis/client/testing';
import { Rest, SIGNED_IN, TOKENS, answeringPings, conform, corpusEvent, corpusRefusal, substitute } from './conformance-kit.js';

export { corpusEvent } from './conformance-kit.js';

/** A key pair from a fixed secret key: the corpus's keys are the same in every runner. @param {number} byte */
function fixedIdentity(byte) {
  const privateKey = new Uint8Array(32).fill(byte);
  return { privateKey, publicKey: x25519.getPublicKey(privateKey) };
}

/** The stranger's key pair (README, "The peer"). */
const PEER = fixedIdentity(0x07);
/** The key pair of a find the client stored before the scenario (`stored_find`). */
const STORED_FIND = fixedIdentity(0x01);
/** How long a drop's reconnect, or a `backoff`, may take in fake time before the scenario fails. */
const BACKOFF_WITHIN_MS = 60_000;
/** How many macrotasks `quiet` (and the end) let run before counting: time for the client's storage writes. */
const QUIET_ROUNDS = 20;

/** Runs one scenario (its parsed JSON) to the end; throws at the first step the client does not conform to. */
export async function runScenario(scenario) {
  const run = new Run();
  try {
    await run.start(scenario.stored_find);
    for (const [i, step] of scenario.steps.entries()) {
      try {
        await run.step(step);
      } catch (e) {
        /** @type {any} */ (e).message = `step ${i + 1} ${JSON.stringify(step)}: ${/** @type {any} */ (e).message}`;
        throw e;
      }
    }
    await run.quiet('when the steps ran out');
  } finally {
    run.stop();
  }
}

class Run {
  constructor() {
    // Time 0 is the Unix epoch: the times frames carry (`sent_at`, `expires_at`) are on this clock.
    this.clock = new FakeClock(0).install();
    this.server = new ScriptedServer({ autoReply: false, protocol: 2 });
    this.rest = new Rest(this.server.baseUrl);
    this.WebSocket = answeringPings(this.server.WebSocket);
    this.storage = new MemoryStorage();
    /** @type {Map<string, unknown>} the scenario's variables, `$name` → value */
    this.vars = new Map([['$peer_public', toBase64(PEER.publicKey)], ...TOKENS]);
    /** @type {Map<number, {session: import('../../src/crypto/e2e.js').Session, clientPublic: string, initiator: boolean}>} the stranger's side of each match */
    this.peer = new Map();
    /** The match the stranger was keyed for last: where `seal` seals. @type {number | null} */
    this.peerMatch = null;
    /** @type {Map<string, {ciphertext: string, nonce: string, commitment: string}>} what `seal` kept, by label */
    this.sealed = new Map();
    /** @type {any[]} the corpus events the client gave, in order, across restarts */
    this.events = [];
    // How many frames, events, sockets and counted requests the steps took so far.
    this.framesTaken = this.eventsTaken = this.socketsTaken = this.requestsTaken = 0;
    /** The match of the latest `matched` event: the conversation a report is about. @type {number | null} */
    this.latestMatch = null;
    /** @type {Map<number, Call>} the app's call of each video match, from its `matched` on (no media) */
    this.calls = new Map();
    /** @type {Client | null} */
    this.client = null;
    /** @type {any} the socket the steps speak on: the one the client opened most recently */
    this.socket = null;
  }

  /** Signs in (the corpus's token pair in storage, and maybe a find left waiting) and starts the first client. @param {any} [storedFind] */
  async start(storedFind) {
    await this.storage.set('tanis.tokens', JSON.stringify(SIGNED_IN));
    if (storedFind) {
      const publicKey = toBase64(STORED_FIND.publicKey);
      const frame = { type: 'match.find', id: storedFind.id, kind: storedFind.kind ?? 'text', public_key: publicKey };
      const identity = { privateKey: toBase64(STORED_FIND.privateKey), publicKey };
      await this.storage.set('tanis.find', JSON.stringify({ id: storedFind.id, frame, identity }));
      this.vars.set('$client_public', publicKey);
    }
    await this.launch();
  }

  /** A client on the run's storage (a first start or a restart), started; its socket, if it opens one, the current one. */
  async launch() {
    const options = { ...this.server.clientOptions(), WebSocket: this.WebSocket, fetch: this.rest.fetch };
    const client = new Client({ ...options, storage: this.storage, now: this.clock.now, random: () => 0.5 });
    this.client = client;
    this.calls = new Map();
    client.on('*', ({ name, detail }) => {
      const event = client === this.client ? corpusEvent(name, detail) : null;
      if (!event) return;
      if (event.type === 'matched') this.latestMatch = event.match_id;
      // As an app does: the call of a video match exists from its `matched` on, before any `rtc.*` frame.
      const { record } = detail.conversation ?? {};
      if (event.type === 'matched' && record.kind === 'video' && !this.calls.has(record.match_id)) {
        this.calls.set(record.match_id, new Call(client, { matchId: record.match_id, initiator: record.initiator, rtc: detail.rtc }));
      }
      this.events.push(event);
    });
    // Signed out (a refused refresh forgot the tokens): no socket.
    this.socket = null;
    if (await client.start()) await this.takeSocket();
  }

  stop() {
    this.client?.close();
    this.clock.uninstall();
  }

  /** Every frame the client sent, on every socket, in order; pings are each client's own (README, "Steps"). */
  frames() {
    return this.server.sockets.flatMap((s) => s.sent).filter((f) => f.type !== 'ping');
  }

  /** The next socket the client opened that no step took, waited for: the current one now. */
  async takeSocket() {
    this.socket = await until(() => this.server.sockets[this.socketsTaken], { what: 'a new socket' });
    this.socketsTaken++;
  }

  /** @param {any} step */
  async step(step) {
    const kinds = Object.keys(step);
    assert.equal(kinds.length, 1, 'a step has exactly one key');
    const [kind] = kinds;
    const arg = step[kind];
    switch (kind) {
      case 'server':
        return this.deliver(arg);
      case 'seal':
        return this.seal(arg);
      case 'app':
        return this.app(arg);
      case 'expect':
        return this.expect(arg);
      case 'event':
        return this.event(arg);
      case 'request':
        return this.request(arg);
      case 'respond':
        return this.respond(arg);
      case 'socket':
        return this.socketIs(arg);
      case 'quiet':
        return this.quiet('here');
      case 'advance_ms':
        return this.clock.tickAsync(arg);
      case 'backoff':
        assert.equal(arg, 'request', 'backoff waits for a request');
        return this.advanceUntil(() => this.rest.requests.length > this.requestsTaken, 'a request');
      case 'drop':
        return this.drop(arg.code);
      case 'close':
        this.socket.serverClose(arg.code, arg.reason ?? '');
        return settle();
      case 'restart':
        this.client?.close();
        return this.launch();
      default:
        throw new Error(`unknown step ${kind}`);
    }
  }

  /** A server frame, variables replaced and a `sealed` label put in; a match it names keys the stranger. @param {any} pattern */
  async deliver(pattern) {
    const { sealed, ...frame } = substitute(pattern, this.vars);
    if (sealed !== undefined) Object.assign(frame, this.sealed.get(sealed) ?? assert.fail(`nothing sealed as ${sealed}`));
    if (frame.type === 'match.found') this.keyPeer(frame);
    if (frame.type === 'hello' && frame.active_match) this.keyPeer(frame.active_match);
    this.socket.deliver(frame);
    await settle();
  }

  /**
   * The stranger's side of the match `info` names, from the client's public key (the latest `match.find`, or the
   * stored find), in the other role. Once per match: a later `hello` naming it again keeps the stranger's counters.
   * None while no find named a key: the match is another device's, sealed to a key this client never had.
   * @param {any} info
   */
  keyPeer(info) {
    const clientPublic = /** @type {string | undefined} */ (this.vars.get('$client_public'));
    if (clientPublic === undefined) return;
    this.peerMatch = info.match_id;
    if (this.peer.has(info.match_id)) return;
    const session = establish(PEER, clientPublic, info.match_id, !info.initiator);
    this.peer.set(info.match_id, { session, clientPublic, initiator: info.initiator });
  }

  /**
   * The stranger seals `text` with its next counter; with `mine`, another client of this account holding the
   * match's key pair (a tab on the same storage: a `stored_find`'s) seals it with `counter`.
   * @param {{as: string, text: string, mine?: boolean, counter?: number}} arg
   */
  seal({ as: label, text, mine, counter }) {
    const side = this.peer.get(/** @type {number} */ (this.peerMatch)) ?? assert.fail('the stranger is in no match');
    const { payload, commitment } = frank(text);
    let session = side.session;
    if (mine) {
      assert.equal(side.clientPublic, toBase64(STORED_FIND.publicKey), 'only a stored find\'s key pair is the runner\'s to seal with');
      assert.ok(Number.isInteger(counter) && /** @type {number} */ (counter) > 0, 'a copy of ours names its counter');
      session = establish(STORED_FIND, toBase64(PEER.publicKey), /** @type {number} */ (this.peerMatch), side.initiator);
      session.sent = BigInt(/** @type {number} */ (counter) - 1);
    }
    this.sealed.set(label, { ...session.seal(payload), commitment });
    this.vars.set(`$${label}.franking_key`, toBase64(payload.subarray(0, 32)));
  }

  /**
   * What the stranger opens of a `msg.send`, its commitment checked. A session of its own each time: the runner
   * reads every copy, a frame re-sent unchanged included, and the stranger's window is the client's business.
   * @param {any} frame
   */
  open(frame) {
    const side = this.peer.get(frame.match_id) ?? assert.fail(`the stranger is not in match ${frame.match_id}`);
    const session = establish(PEER, side.clientPublic, frame.match_id, !side.initiator);
    return unfrank(session.openBytes(frame.ciphertext, frame.nonce), frame.commitment).text;
  }

  /** @param {any} action */
  async app(action) {
    const client = /** @type {Client} */ (this.client);
    // Requests (a find, a leave, a report) resolve with the server's answer, or fail without one: the corpus counts
    // frames and events, not what the app's promise says.
    const meanwhile = (/** @type {Promise<unknown>} */ p) => void p.catch(() => {});
    switch (action.do) {
      case 'find':
        return meanwhile(client.findMatch({ kind: action.kind ?? 'text' }));
      case 'send': {
        let message;
        try {
          message = await client.send(action.text, action.match_id);
        } catch (e) {
          if (action.refused === undefined) throw e;
          return assert.equal(corpusRefusal(e), action.refused, 'why the client refused the send');
        }
        assert.equal(action.refused, undefined, 'the client took a message it should have refused');
        if (action.as) conform(action.as, message.key, 'the message sent', this.vars);
        return;
      }
      case 'leave':
        return meanwhile(client.leave());
      case 'report':
        return meanwhile(client.report(/** @type {number} */ (this.latestMatch), action.reason, { seqs: action.seqs }));
      case 'hang_up': {
        const call = this.calls.get(/** @type {number} */ (this.latestMatch)) ?? assert.fail('no call: the latest match is not a video match');
        return meanwhile(call.hangUp());
      }
      default:
        throw new Error(`unknown app action ${action.do}`);
    }
  }

  /** The next frame the client sent must match `pattern` (README, "Steps": `text` and `counter` on a msg.send). @param {any} pattern */
  async expect(pattern) {
    const frame = await until(() => this.frames()[this.framesTaken], { what: `a frame ${JSON.stringify(pattern)}` });
    this.framesTaken++;
    if (frame.type === 'match.find') this.vars.set('$client_public', frame.public_key);
    const { text, counter, ...keys } = pattern;
    const where = `frame ${JSON.stringify(frame)}`;
    conform(keys, frame, where, this.vars, true);
    if (counter !== undefined) assert.equal(Number(counterOf(frame.nonce)), counter, `${where}: counter`);
    if (text !== undefined) assert.equal(this.open(frame), text, `${where}: text`);
  }

  /** The next event the client gave must match `pattern`. @param {any} pattern */
  async event(pattern) {
    const event = await until(() => this.events[this.eventsTaken], { what: `an event ${JSON.stringify(pattern)}` });
    this.eventsTaken++;
    conform(pattern, event, `event ${JSON.stringify(event)}`, this.vars, true);
  }

  /** The next counted request the client made must match `pattern` (method, path, body). @param {any} pattern */
  async request(pattern) {
    const request = await until(() => this.rest.requests[this.requestsTaken], { what: `a request ${JSON.stringify(pattern)}` });
    this.requestsTaken++;
    const { method, path, body } = request;
    conform(pattern, { method, path, body }, `request ${JSON.stringify({ method, path, body })}`, this.vars, true);
  }

  /** Answers the oldest request a `request` step took and nothing answered yet. @param {any} reply */
  async respond(reply) {
    const request = this.rest.requests.slice(0, this.requestsTaken).find((r) => !r.answered) ?? assert.fail('no request waits for an answer');
    request.answer(substitute(reply, this.vars));
    await settle();
  }

  /**
   * The socket the client opened most recently, still open, must match `pattern` (`token`: the access token it
   * offered). One it opened that no step took yet (after a refresh: `close` waits for none) is taken first: the
   * current one now.
   * @param {any} pattern
   */
  async socketIs(pattern) {
    for (let i = 0; i < QUIET_ROUNDS; i++) await settle();
    const waiting = this.server.sockets.length - this.socketsTaken;
    assert.ok(waiting <= 1, `${waiting} sockets opened since the last one a step took`);
    if (waiting === 1) await this.takeSocket();
    assert.ok(this.socket?.open, 'no socket is open: none was opened since the last one closed');
    conform(pattern, { token: this.socket.token }, `socket ${JSON.stringify({ token: this.socket.token })}`, this.vars, true);
  }

  /** Nothing sent, told, opened or requested that no step expected. @param {string} when */
  async quiet(when) {
    for (let i = 0; i < QUIET_ROUNDS; i++) await settle();
    assert.deepEqual(this.frames().slice(this.framesTaken), [], `frames no step expected, ${when}`);
    assert.deepEqual(this.events.slice(this.eventsTaken), [], `events no step expected, ${when}`);
    const sockets = this.server.sockets.slice(this.socketsTaken).map((s) => ({ token: s.token }));
    assert.deepEqual(sockets, [], `sockets no step expected, ${when}`);
    const requests = this.rest.requests.slice(this.requestsTaken).map(({ method, path, body }) => ({ method, path, body }));
    assert.deepEqual(requests, [], `requests no step expected, ${when}`);
    assert.deepEqual(this.rest.unknown, [], `requests the corpus does not know, ${when}`);
  }

  /** The socket drops; the clock moves until the client opens a new one, the current one then. @param {number} code */
  async drop(code) {
    this.socket.serverClose(code);
    await this.advanceUntil(() => this.server.sockets.length > this.socketsTaken, 'a new socket');
    await this.takeSocket();
  }

  /**
   * The clock moves timer by timer (what falls due runs) until `done()` holds, at most BACKOFF_WITHIN_MS.
   * @param {() => boolean} done @param {string} what
   */
  async advanceUntil(done, what) {
    const deadline = this.clock.time + BACKOFF_WITHIN_MS;
    await settle();
    while (!done()) {
      const due = Math.min(...[...this.clock.timers.values()].map((t) => t.at));
      assert.ok(due <= deadline, `no ${what} within ${BACKOFF_WITHIN_MS} ms`);
      await this.clock.tickAsync(due - this.clock.time);
    }
  }
}
