// The TypeScript runner of the conformance corpus (conformance/README.md, the contract every runner follows): one
// scenario against the real SDK (`Client`) on the test kit's scripted server, which answers nothing by itself
// (`autoReply: false`: every server frame is the scenario's), on a FakeClock that only `advance_ms` and a drop's
// reconnect move. The runner plays the stranger with real keys, so that what the client seals is opened and
// checked, and what the stranger seals is what the client must open.

import assert from 'node:assert/strict';

import { Client, MemoryStorage } from '../../src/index.js';
import { counterOf, establish, toBase64 } from '../../src/crypto/e2e.js';
import { frank, unfrank } from '../../src/crypto/franking.js';
import { x25519 } from '../../src/crypto/vendor/noble.js';
import { FakeClock, ScriptedServer, settle, until } from '@tanis/client/testing';

/** A key pair from a fixed secret key: the corpus's keys are the same in every runner. @param {number} byte */
function fixedIdentity(byte) {
  const privateKey = new Uint8Array(32).fill(byte);
  return { privateKey, publicKey: x25519.getPublicKey(privateKey) };
}

/** The stranger's key pair (README, "The peer"). */
const PEER = fixedIdentity(0x07);
/** The key pair of a find the client stored before the scenario (`stored_find`). */
const STORED_FIND = fixedIdentity(0x01);
/** How long a drop's reconnect may take, in fake time, before the scenario fails. */
const RECONNECT_WITHIN_MS = 60_000;
/** How many macrotasks `quiet` (and the end) let run before counting: time for the client's storage writes. */
const QUIET_ROUNDS = 20;

/**
 * The SDK's event as the corpus names it (README, "Events"), or null for one the corpus does not count.
 * @param {string} name
 * @param {any} detail
 */
export function corpusEvent(name, detail) {
  switch (name) {
    case 'matched': {
      const { record } = detail.conversation;
      return { type: 'matched', match_id: record.match_id, peer: record.peer, initiator: record.initiator };
    }
    case 'message': {
      // One of ours the client could not tie to its outbox (another tab's or device's) keeps `mine`: no scenario
      // expects it, so it fails any it shows up in.
      const { seq, text, mine } = detail.message;
      return { type: 'message', match_id: detail.matchId, seq, text, ...(mine && { mine }) };
    }
    case 'undecryptable':
      // Not opened, or opened but its franking commitment does not open: either way never shown as text.
      return { type: 'unreadable', match_id: detail.matchId, seq: detail.seq };
    case 'sent':
      return { type: 'sent', match_id: detail.matchId, client_msg_id: detail.clientMsgId, seq: detail.seq };
    case 'failed':
      return { type: 'failed', match_id: detail.matchId, client_msg_id: detail.clientMsgId, code: detail.error.code };
    case 'ended':
      return { type: 'ended', match_id: detail.matchId, reason: detail.reason };
    default:
      return null;
  }
}

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
    this.storage = new MemoryStorage();
    /** @type {Map<string, unknown>} the scenario's variables, `$name` → value */
    this.vars = new Map([['$peer_public', toBase64(PEER.publicKey)]]);
    /** @type {Map<number, {session: import('../../src/crypto/e2e.js').Session, clientPublic: string, initiator: boolean}>} the stranger's side of each match */
    this.peer = new Map();
    /** The match the stranger was keyed for last: where `seal` seals. @type {number | null} */
    this.peerMatch = null;
    /** @type {Map<string, {ciphertext: string, nonce: string, commitment: string}>} what `seal` kept, by label */
    this.sealed = new Map();
    /** @type {any[]} the corpus events the client gave, in order, across restarts */
    this.events = [];
    // How many frames and events the steps expected so far.
    this.framesTaken = this.eventsTaken = 0;
    /** The match of the latest `matched` event: the conversation a report is about. @type {number | null} */
    this.latestMatch = null;
    /** @type {Client | null} */
    this.client = null;
    /** @type {any} the socket open now */
    this.socket = null;
  }

  /** Signs in (a token pair in storage, and maybe a find left waiting) and starts the first client. @param {any} [storedFind] */
  async start(storedFind) {
    await this.server.signIn(this.storage);
    if (storedFind) {
      const publicKey = toBase64(STORED_FIND.publicKey);
      const frame = { type: 'match.find', id: storedFind.id, kind: storedFind.kind ?? 'text', public_key: publicKey };
      const identity = { privateKey: toBase64(STORED_FIND.privateKey), publicKey };
      await this.storage.set('tanis.find', JSON.stringify({ id: storedFind.id, frame, identity }));
      this.vars.set('$client_public', publicKey);
    }
    await this.launch();
  }

  /** A client on the run's storage (a first start or a restart), started, its socket the current one. */
  async launch() {
    const client = new Client({ ...this.server.clientOptions(), storage: this.storage, now: this.clock.now, random: () => 0.5 });
    this.client = client;
    client.on('*', ({ name, detail }) => {
      const event = client === this.client ? corpusEvent(name, detail) : null;
      if (!event) return;
      if (event.type === 'matched') this.latestMatch = event.match_id;
      this.events.push(event);
    });
    await client.start();
    this.socket = await this.server.socket();
  }

  stop() {
    this.client?.close();
    this.clock.uninstall();
  }

  /** Every frame the client sent, on every socket, in order; pings are each client's own (README, "Steps"). */
  frames() {
    return this.server.sockets.flatMap((s) => s.sent).filter((f) => f.type !== 'ping');
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
        return this.seal(arg.as, arg.text);
      case 'app':
        return this.app(arg);
      case 'expect':
        return this.expect(arg);
      case 'event':
        return this.event(arg);
      case 'quiet':
        return this.quiet('here');
      case 'advance_ms':
        return this.clock.tickAsync(arg);
      case 'drop':
        return this.drop(arg.code);
      case 'restart':
        this.client?.close();
        return this.launch();
      default:
        throw new Error(`unknown step ${kind}`);
    }
  }

  /** A server frame, variables replaced and a `sealed` label put in; a match it names keys the stranger. @param {any} pattern */
  async deliver(pattern) {
    const { sealed, ...frame } = this.substitute(pattern);
    if (sealed !== undefined) Object.assign(frame, this.sealed.get(sealed) ?? assert.fail(`nothing sealed as ${sealed}`));
    if (frame.type === 'match.found') this.keyPeer(frame);
    if (frame.type === 'hello' && frame.active_match) this.keyPeer(frame.active_match);
    this.socket.deliver(frame);
    await settle();
  }

  /**
   * The stranger's side of the match `info` names, from the client's public key (the latest `match.find`, or the
   * stored find), in the other role. Once per match: a later `hello` naming it again keeps the stranger's counters.
   * @param {any} info
   */
  keyPeer(info) {
    this.peerMatch = info.match_id;
    if (this.peer.has(info.match_id)) return;
    const clientPublic = /** @type {string} */ (this.vars.get('$client_public') ?? assert.fail('no match.find named a key yet'));
    const session = establish(PEER, clientPublic, info.match_id, !info.initiator);
    this.peer.set(info.match_id, { session, clientPublic, initiator: info.initiator });
  }

  /** @param {string} label @param {string} text */
  seal(label, text) {
    const side = this.peer.get(/** @type {number} */ (this.peerMatch)) ?? assert.fail('the stranger is in no match');
    const { payload, commitment } = frank(text);
    this.sealed.set(label, { ...side.session.seal(payload), commitment });
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
        const message = await client.send(action.text);
        if (action.as) this.conform(action.as, message.key, 'the message sent');
        return;
      }
      case 'leave':
        return meanwhile(client.leave());
      case 'report':
        return meanwhile(client.report(/** @type {number} */ (this.latestMatch), action.reason, { seqs: action.seqs }));
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
    this.conform(keys, frame, where, true);
    if (counter !== undefined) assert.equal(Number(counterOf(frame.nonce)), counter, `${where}: counter`);
    if (text !== undefined) assert.equal(this.open(frame), text, `${where}: text`);
  }

  /** The next event the client gave must match `pattern`. @param {any} pattern */
  async event(pattern) {
    const event = await until(() => this.events[this.eventsTaken], { what: `an event ${JSON.stringify(pattern)}` });
    this.eventsTaken++;
    this.conform(pattern, event, `event ${JSON.stringify(event)}`, true);
  }

  /** Nothing sent and nothing told that no step expected. @param {string} when */
  async quiet(when) {
    for (let i = 0; i < QUIET_ROUNDS; i++) await settle();
    assert.deepEqual(this.frames().slice(this.framesTaken), [], `frames no step expected, ${when}`);
    assert.deepEqual(this.events.slice(this.eventsTaken), [], `events no step expected, ${when}`);
  }

  /** The socket drops; the clock moves timer by timer until the client opens a new one, the current one then. @param {number} code */
  async drop(code) {
    const opened = this.server.sockets.length;
    this.socket.serverClose(code);
    const deadline = this.clock.time + RECONNECT_WITHIN_MS;
    await settle();
    while (this.server.sockets.length === opened) {
      const due = Math.min(...[...this.clock.timers.values()].map((t) => t.at));
      assert.ok(due <= deadline, `no new socket within ${RECONNECT_WITHIN_MS} ms of the drop`);
      await this.clock.tickAsync(due - this.clock.time);
    }
    this.socket = await this.server.socket();
  }

  /** A server frame's value with every variable replaced (README, "Values"). @param {any} value @returns {any} */
  substitute(value) {
    if (typeof value === 'string' && value.startsWith('$')) {
      assert.ok(this.vars.has(value), `${value} is not bound`);
      return this.vars.get(value);
    }
    if (Array.isArray(value)) return value.map((v) => this.substitute(v));
    if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.substitute(v)]));
    return value;
  }

  /**
   * `actual` against `pattern` (README, "Values"): an unbound `$name` binds, a bound one must be equal; `null` is
   * a key left out (or null); at the top only the pattern's keys count, nested objects and arrays are whole.
   * @param {any} pattern @param {any} actual @param {string} where @param {boolean} [top]
   */
  conform(pattern, actual, where, top = false) {
    if (typeof pattern === 'string' && pattern.startsWith('$')) {
      assert.notEqual(actual, undefined, `${where}: no value for ${pattern}`);
      if (!this.vars.has(pattern)) return void this.vars.set(pattern, actual);
      return assert.deepEqual(actual, this.vars.get(pattern), `${where}: ${pattern}`);
    }
    if (pattern === null) return assert.ok(actual == null, `${where}: expected none, got ${JSON.stringify(actual)}`);
    if (Array.isArray(pattern)) {
      assert.ok(Array.isArray(actual) && actual.length === pattern.length, `${where}: expected ${pattern.length} items`);
      return pattern.forEach((p, i) => this.conform(p, actual[i], `${where} [${i}]`));
    }
    if (typeof pattern === 'object') {
      assert.ok(actual && typeof actual === 'object', `${where}: expected an object`);
      if (!top) for (const key of Object.keys(actual)) assert.ok(key in pattern, `${where}: unexpected key ${key}`);
      for (const [key, p] of Object.entries(pattern)) this.conform(p, actual[key], `${where} .${key}`);
      return;
    }
    assert.equal(actual, pattern, `${where}: ${JSON.stringify(pattern)}`);
  }
}
