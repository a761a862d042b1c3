// Call signalling against a scripted RTCPeerConnection: relay-only configuration, candidates out, the offer,
// `rtc.connected`, and the one `rtc.stats` at hang-up with the whole call's figures from getStats(); then the
// Call that makes its own connections (the `peerConnection` option): the camera awaited and its tracks added,
// the other side's tracks, calling again, two offers crossing, the setup timeout, the match's end.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Call, Emitter, callFigures, rtcConfiguration } from '../../src/index.js';
import { FakeClock, settle } from '@tanis/client/testing';

/** The part of Client a Call uses: events, the clock, and what it signals. */
function fakeClient() {
  const events = new Emitter();
  let clock = 1_000;
  return {
    events,
    sent: [],
    on: (name, fn) => events.on(name, fn),
    signal(frame) {
      this.sent.push(frame);
      return true;
    },
    now: () => clock,
    advance: (ms) => (clock += ms),
  };
}

/** A getStats() report: a selected pair through the relay, two outbound streams, the peer's loss reports. */
const report = new Map([
  ['T1', { type: 'transport', selectedCandidatePairId: 'P1' }],
  ['P1', { type: 'candidate-pair', currentRoundTripTime: 0.0423 }],
  ['O1', { type: 'outbound-rtp', packetsSent: 1000 }],
  ['O2', { type: 'outbound-rtp', packetsSent: 200 }],
  ['R1', { type: 'remote-inbound-rtp', packetsLost: 7 }],
  ['R2', { type: 'remote-inbound-rtp', packetsLost: -2 }],
]);

class FakePeerConnection {
  constructor() {
    this.connectionState = 'new';
    this.signalingState = 'stable';
    this.remoteDescription = null;
  }
  async createOffer() {
    return { type: 'offer', sdp: 'v=0 offer' };
  }
  async setLocalDescription(d) {
    this.localDescription = d;
    this.signalingState = 'have-local-offer';
  }
  async setRemoteDescription(d) {
    this.remoteDescription = d;
    this.signalingState = 'stable';
  }
  async getStats() {
    return report;
  }
}

test('the RTC configuration is the server ICE servers, relay only', () => {
  const rtc = { ice_servers: [{ urls: ['turn:203.0.113.10:3478?transport=udp'], username: 'u', credential: 'c' }], ice_transport_policy: 'relay', ttl_secs: 600 };
  assert.deepEqual(rtcConfiguration({ rtc }), {
    iceServers: [{ urls: ['turn:203.0.113.10:3478?transport=udp'], username: 'u', credential: 'c' }],
    iceTransportPolicy: 'relay',
  });
});

test('call figures: relay round trip, packets sent summed, loss summed with negatives as none', () => {
  assert.deepEqual(callFigures(report), { rtt_ms: 42, packets_sent: 1200, packets_lost: 7 });
  assert.deepEqual(callFigures(new Map()), {});
});

test('a call signals its offer and candidates, and reports the whole call at hang-up', async () => {
  const client = fakeClient();
  const pc = new FakePeerConnection();
  const call = new Call(client, { matchId: 9, initiator: true });
  call.attach(pc);
  await call.start();
  pc.onicecandidate({ candidate: { candidate: 'candidate:1 1 udp 1 203.0.113.10 5000 typ relay', sdpMid: '0', sdpMLineIndex: 0 } });
  pc.onicecandidate({ candidate: null });
  client.advance(1_840);
  pc.connectionState = 'connected';
  pc.onconnectionstatechange();
  client.advance(60_000);
  await call.hangUp();
  assert.deepEqual(client.sent, [
    { type: 'rtc.offer', match_id: 9, sdp: 'v=0 offer' },
    { type: 'rtc.ice', match_id: 9, candidate: 'candidate:1 1 udp 1 203.0.113.10 5000 typ relay', sdp_mid: '0', sdp_mline_index: 0 },
    { type: 'rtc.ice', match_id: 9, candidate: '' },
    { type: 'rtc.connected', match_id: 9 },
    { type: 'rtc.stats', match_id: 9, outcome: 'connected', setup_ms: 1_840, rtt_ms: 42, packets_sent: 1200, packets_lost: 7 },
    { type: 'rtc.hangup', match_id: 9 },
  ]);
});

test('an answer comes back for an offer, with candidates that came early added after it', async () => {
  const client = fakeClient();
  const pc = new FakePeerConnection();
  const added = [];
  pc.createAnswer = async () => ({ type: 'answer', sdp: 'v=0 answer' });
  pc.setLocalDescription = async (d) => (pc.localDescription = d);
  pc.addIceCandidate = async (c) => added.push(c.candidate);
  const call = new Call(client, { matchId: 9, initiator: false });
  call.attach(pc);
  client.events.emit('rtc', { matchId: 9, frame: { type: 'rtc.ice', match_id: 9, candidate: 'early' } });
  client.events.emit('rtc', { matchId: 9, frame: { type: 'rtc.offer', match_id: 9, sdp: 'v=0 offer' } });
  client.events.emit('rtc', { matchId: 8, frame: { type: 'rtc.ice', match_id: 8, candidate: 'another match' } });
  await call.queue;
  assert.deepEqual(client.sent, [{ type: 'rtc.answer', match_id: 9, sdp: 'v=0 answer' }]);
  assert.deepEqual(added, ['early']);
  call.dispose();
});

// --- a Call that makes its connections -----------------------------------------------------------------------

/** An RTCPeerConnection as the Call drives it: descriptions, candidates, tracks, connection states, stats. */
class ScriptedPeerConnection {
  static made = [];
  constructor(configuration) {
    this.configuration = configuration;
    this.n = ScriptedPeerConnection.made.push(this);
    this.tracks = [];
    this.candidates = [];
    this.connectionState = 'new';
    this.signalingState = 'stable';
    this.localDescription = null;
    this.remoteDescription = null;
    this.closed = false;
    this.report = new Map();
  }
  addTrack(track, stream) {
    this.tracks.push({ track, stream });
  }
  async createOffer() {
    return { type: 'offer', sdp: `offer ${this.n}` };
  }
  async createAnswer() {
    return { type: 'answer', sdp: `answer ${this.n}` };
  }
  async setLocalDescription(d) {
    this.localDescription = d;
    this.signalingState = d.type === 'offer' ? 'have-local-offer' : 'stable';
  }
  async setRemoteDescription(d) {
    this.remoteDescription = d;
    this.signalingState = d.type === 'offer' ? 'have-remote-offer' : 'stable';
  }
  async addIceCandidate(c) {
    this.candidates.push(c.candidate);
  }
  async getStats() {
    if (this.closed) throw new Error('InvalidStateError: closed');
    return this.report;
  }
  close() {
    this.closed = true;
  }
  become(state) {
    this.connectionState = state;
    this.onconnectionstatechange?.();
  }
}

const rtc = { ice_servers: [{ urls: ['turn:203.0.113.10:3478?transport=udp'], username: 'u', credential: 'c' }], ice_transport_policy: 'all', ttl_secs: 600 };
const camera = { getTracks: () => ['camera', 'microphone'] };

/** A Call on a fake client making ScriptedPeerConnections; `frame(f)` hands it a frame of the peer's. */
function scripted({ initiator = true, localStream = camera } = {}) {
  ScriptedPeerConnection.made = [];
  const client = fakeClient();
  const call = new Call(client, { matchId: 9, initiator, rtc, localStream, peerConnection: (c) => new ScriptedPeerConnection(c) });
  const states = [];
  call.on('state', ({ state, why }) => states.push(why ? `${state}:${why}` : state));
  const frame = async (f) => {
    client.events.emit('rtc', { matchId: 9, frame: { match_id: 9, ...f } });
    await call.queue;
  };
  const made = ScriptedPeerConnection.made;
  const sent = (type) => client.sent.filter((f) => f.type === type);
  return { client, call, states, frame, made, sent };
}

test('the Call makes its connection relay only, whatever the server says, with the camera’s tracks, and emits the other side’s', async () => {
  const { call, made, sent, states } = scripted();
  const tracks = [];
  call.on('track', (t) => tracks.push(t));
  await call.start();
  assert.equal(made.length, 1);
  assert.deepEqual(made[0].configuration, { iceServers: [{ urls: ['turn:203.0.113.10:3478?transport=udp'], username: 'u', credential: 'c' }], iceTransportPolicy: 'relay' });
  assert.deepEqual(made[0].tracks, [{ track: 'camera', stream: camera }, { track: 'microphone', stream: camera }]);
  assert.deepEqual(sent('rtc.offer'), [{ type: 'rtc.offer', match_id: 9, sdp: 'offer 1' }]);
  made[0].ontrack({ track: 'their camera', streams: ['their stream'] });
  assert.deepEqual(tracks, [{ track: 'their camera', streams: ['their stream'] }]);
  assert.deepEqual(states, ['connecting']);
  call.dispose();
});

test('an offer that comes while the camera is opening is answered once it is open, with the frames behind it in order', async () => {
  let open;
  const { call, client, made, frame, sent } = scripted({ initiator: false, localStream: new Promise((resolve) => (open = resolve)) });
  client.events.emit('rtc', { matchId: 9, frame: { type: 'rtc.offer', match_id: 9, sdp: 'their offer' } });
  client.events.emit('rtc', { matchId: 9, frame: { type: 'rtc.ice', match_id: 9, candidate: 'c1', sdp_mid: '0', sdp_mline_index: 0 } });
  await settle();
  assert.deepEqual(client.sent, [], 'nothing before the camera');
  assert.equal(made.length, 0);
  open(camera);
  await frame({ type: 'rtc.ice', candidate: 'c2' });
  assert.deepEqual(sent('rtc.answer'), [{ type: 'rtc.answer', match_id: 9, sdp: 'answer 1' }]);
  assert.equal(made[0].remoteDescription.sdp, 'their offer');
  assert.equal(made[0].tracks.length, 2);
  assert.deepEqual(made[0].candidates, ['c1', 'c2']);
  call.dispose();
});

test('no camera: the call fails for that reason and nothing is signalled', async () => {
  const { call, client, states } = scripted({ localStream: Promise.reject(new Error('NotAllowedError')) });
  const errors = [];
  client.on('error', (e) => errors.push(e));
  await call.start();
  assert.deepEqual(states, ['failed:media']);
  assert.deepEqual(client.sent, []);
  assert.deepEqual(errors, [], 'not an SDK error: the app says it');
  call.dispose();
});

test('calling again: a new connection, the one before closed, and only the first connected call is reported, at its end', async () => {
  const { call, client, made, frame, sent, states } = scripted();
  await call.start();
  await frame({ type: 'rtc.answer', sdp: 'answer' });
  client.advance(1_500);
  made[0].report = report;
  made[0].become('connected');
  assert.deepEqual(sent('rtc.connected'), [{ type: 'rtc.connected', match_id: 9 }]);
  assert.deepEqual(sent('rtc.stats'), [], 'not at connect');
  client.advance(120_000);
  await call.hangUp();
  assert.ok(made[0].closed);
  assert.deepEqual(client.sent.slice(-2), [
    { type: 'rtc.stats', match_id: 9, outcome: 'connected', setup_ms: 1_500, rtt_ms: 42, packets_sent: 1200, packets_lost: 7 },
    { type: 'rtc.hangup', match_id: 9 },
  ]);

  await call.start();
  assert.equal(made.length, 2);
  assert.deepEqual(sent('rtc.offer').map((f) => f.sdp), ['offer 1', 'offer 2']);
  await frame({ type: 'rtc.answer', sdp: 'answer' });
  made[1].become('connected');
  await frame({ type: 'rtc.hangup' });
  assert.ok(made[1].closed);
  assert.equal(sent('rtc.stats').length, 1, 'one report per match');
  assert.deepEqual(states, ['connecting', 'connected', 'ended:me', 'connecting', 'connected', 'ended:peer']);
  call.dispose();
});

test('a call hung up while connecting is not reported, and the next one starts a fresh clock', async () => {
  const { call, client, made, frame, sent } = scripted();
  await call.start();
  client.advance(5_000);
  await call.hangUp();
  assert.deepEqual(sent('rtc.stats'), []);
  client.advance(60_000);
  await call.start();
  await frame({ type: 'rtc.answer', sdp: 'answer' });
  client.advance(900);
  made[1].become('connected');
  await frame({ type: 'rtc.hangup' });
  assert.deepEqual(sent('rtc.stats'), [{ type: 'rtc.stats', match_id: 9, outcome: 'connected', setup_ms: 900 }]);
  call.dispose();
});

test('an offer that replaces a connected call (the other side came back after a reload) reports that call first', async () => {
  const { call, made, frame, sent } = scripted({ initiator: false });
  await frame({ type: 'rtc.offer', sdp: 'their offer' });
  made[0].report = report;
  made[0].become('connected');
  await frame({ type: 'rtc.offer', sdp: 'their offer after a reload' });
  assert.ok(made[0].closed);
  assert.equal(made[1].remoteDescription.sdp, 'their offer after a reload');
  assert.deepEqual(sent('rtc.stats').map((f) => [f.outcome, f.packets_lost]), [['connected', 7]]);
  assert.deepEqual(sent('rtc.answer').map((f) => f.sdp), ['answer 1', 'answer 2']);
  made[0].become('failed');
  assert.equal(call.state, 'connecting', 'the old connection is no longer listened to');
  call.dispose();
});

test('two offers crossing: the initiator keeps its own and ignores the other, the other side answers it', async () => {
  const a = scripted({ initiator: true });
  await a.call.start();
  await a.frame({ type: 'rtc.offer', sdp: 'crossing offer' });
  assert.equal(a.made.length, 1);
  assert.equal(a.made[0].signalingState, 'have-local-offer');
  assert.deepEqual(a.sent('rtc.answer'), []);
  a.call.dispose();

  const b = scripted({ initiator: false });
  await b.call.start();
  await b.frame({ type: 'rtc.offer', sdp: 'the initiator’s offer' });
  assert.equal(b.made.length, 2);
  assert.ok(b.made[0].closed, 'its own offer dropped');
  assert.deepEqual(b.sent('rtc.answer'), [{ type: 'rtc.answer', match_id: 9, sdp: 'answer 2' }]);
  b.call.dispose();
});

test('not connected within the setup timeout: reported failed once; a later connect is not reported again', async (t) => {
  const clock = new FakeClock().install();
  t.after(() => clock.uninstall());
  const { call, client, made, frame, sent } = scripted();
  await call.start();
  await frame({ type: 'rtc.answer', sdp: 'answer' });
  client.advance(30_000);
  clock.tick(30_000);
  await settle();
  assert.deepEqual(sent('rtc.stats'), [{ type: 'rtc.stats', match_id: 9, outcome: 'failed', setup_ms: 30_000 }]);
  assert.equal(call.state, 'connecting', 'the call goes on: it may still connect');
  made[0].become('connected');
  await call.hangUp();
  assert.equal(sent('rtc.stats').length, 1);
  call.dispose();
});

test('ICE failing before connect is reported failed at once', async () => {
  const { call, client, made, frame, sent, states } = scripted();
  await call.start();
  await frame({ type: 'rtc.answer', sdp: 'answer' });
  client.advance(4_000);
  made[0].become('failed');
  await settle();
  assert.deepEqual(sent('rtc.stats'), [{ type: 'rtc.stats', match_id: 9, outcome: 'failed', setup_ms: 4_000 }]);
  assert.deepEqual(states, ['connecting', 'failed:ice']);
  call.dispose();
});

test('the match’s end ends the call: reported with its figures, closed, and no later frame is answered', async () => {
  const { call, client, made, frame, sent, states } = scripted({ initiator: false });
  await frame({ type: 'rtc.offer', sdp: 'their offer' });
  made[0].report = report;
  made[0].become('connected');
  client.events.emit('ended', { matchId: 8, reason: 'left' });
  assert.equal(call.state, 'connected', 'another match’s end');
  client.events.emit('ended', { matchId: 9, reason: 'left' });
  await call.queue;
  assert.ok(made[0].closed);
  assert.deepEqual(sent('rtc.stats').map((f) => f.outcome), ['connected']);
  assert.equal(sent('rtc.stats')[0].packets_sent, 1200);
  assert.deepEqual(states, ['connecting', 'connected', 'ended:match']);
  await frame({ type: 'rtc.offer', sdp: 'too late' });
  assert.equal(made.length, 1);
  assert.equal(sent('rtc.hangup').length, 0, 'the match ended: no hang-up to send');
});

test('route: the selected pair’s candidate types and the transport to the relay', async () => {
  const { call, made } = scripted();
  assert.equal(await call.route(), null);
  await call.start();
  assert.equal(await call.route(), null, 'no pair chosen yet');
  made[0].report = new Map([
    ['T', { type: 'transport', selectedCandidatePairId: 'P' }],
    ['P', { type: 'candidate-pair', localCandidateId: 'L', remoteCandidateId: 'R' }],
    ['L', { type: 'local-candidate', candidateType: 'relay', relayProtocol: 'tcp', address: '192.0.2.1' }],
    ['R', { type: 'remote-candidate', candidateType: 'relay', address: '198.51.100.2' }],
  ]);
  assert.deepEqual(await call.route(), { local: 'relay', remote: 'relay', relayProtocol: 'tcp' });
  call.dispose();
});
