// The figures of the web client's `rtc.stats` (the SDK's `callFigures`, which the SDK's Call that web/video.js
// runs on reports with), from getStats()-shaped reports: no browser needed. The report must hold numbers only, whatever the stats carry (addresses, ids).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { callFigures } from '../../sdk/typescript/src/calls.js';

test('rtt, packets sent and the peer-reported loss are read, and nothing else', () => {
  const stats = new Map([
    ['T1', { type: 'transport', selectedCandidatePairId: 'CP1' }],
    ['CP1', { type: 'candidate-pair', currentRoundTripTime: 0.0426, localCandidateId: 'L1', remoteCandidateId: 'R1' }],
    ['L1', { type: 'local-candidate', address: '192.0.2.7', candidateType: 'relay' }],
    ['R1', { type: 'remote-candidate', address: '198.51.100.20', candidateType: 'relay' }],
    ['OA', { type: 'outbound-rtp', kind: 'audio', packetsSent: 500 }],
    ['OV', { type: 'outbound-rtp', kind: 'video', packetsSent: 300 }],
    ['RA', { type: 'remote-inbound-rtp', packetsLost: -2 }],
    ['RV', { type: 'remote-inbound-rtp', packetsLost: 12 }],
  ]);
  assert.deepEqual(callFigures(stats), { rtt_ms: 43, packets_sent: 800, packets_lost: 12 });
});

test('before a pair is chosen or media is sent, the optional figures are left out', () => {
  assert.deepEqual(callFigures(new Map()), {});
  const lossy = new Map([
    ['O', { type: 'outbound-rtp', packetsSent: 10 }],
    ['R', { type: 'remote-inbound-rtp', packetsLost: 15 }],
  ]);
  assert.deepEqual(callFigures(lossy), { packets_sent: 10, packets_lost: 10 }, 'never more lost than sent');
});
