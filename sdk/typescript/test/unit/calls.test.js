// Call signalling against a scripted RTCPeerConnection: relay-only configuration, candidates out, the offer,
// `rtc.connected`, and the one `rtc.stats` at hang-up with the whole call's figures from getStats().

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Call, Emitter, callFigures, rtcConfiguration } from '../../src/index.js';

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
