// A report from a video call (`Client.reportCall`, `POST /v1/reports/call`): the body as the server takes it, the
// snapshot base64 only when the app passes one, and the server's refusals as TanisErrors like every REST call's.

import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';

import { Client, MAX_SNAPSHOT_BYTES, MemoryStorage, TanisError } from '@tanis/client';
import { ScriptedServer, httpError } from '@tanis/client/testing';

let server;
let client;

beforeEach(async () => {
  server = new ScriptedServer();
  client = new Client({ ...server.clientOptions(), storage: new MemoryStorage() });
  await client.login('+905321234567', 'correct horse');
});

afterEach(() => client.close());

const reports = () => server.requestsTo('POST /v1/reports/call');

test('a report with the verdict and the snapshot the person chose to attach, the picture in base64', async () => {
  const bytes = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0xff, 0xd9]);
  await client.reportCall({
    matchId: 41,
    reason: 'nudity',
    details: 'showed himself',
    verdict: { label: 'Porn', score: 0.93 },
    snapshot: { contentType: 'image/jpeg', bytes },
  });
  const [request] = reports();
  assert.match(request.headers.authorization, /^Bearer /);
  assert.deepEqual(request.body, {
    match_id: 41,
    reason_code: 'nudity',
    details: 'showed himself',
    verdict: { label: 'Porn', score: 0.93 },
    snapshot: { content_type: 'image/jpeg', data: '/9j/4AAQSkZJRgD/2Q==' },
  });
});

test('without a snapshot none is sent, and without a verdict or details neither is', async () => {
  await client.reportCall({ matchId: 41, reason: 'harassment', verdict: null, snapshot: null });
  await client.reportCall({ matchId: 41, reason: 'spam', verdict: { label: 'Neutral', score: 0.5 } });
  assert.deepEqual(reports().map((r) => r.body), [
    { match_id: 41, reason_code: 'harassment' },
    { match_id: 41, reason_code: 'spam', verdict: { label: 'Neutral', score: 0.5 } },
  ]);
});

test('the server’s refusals come back as TanisErrors with their code and status', async () => {
  const refusals = [
    [413, 'snapshot_too_large'],
    [415, 'snapshot_type'],
    [404, 'not_matched'],
    [422, 'not_video'],
    [422, 'invalid_request'],
    [429, 'rate_limited'],
  ];
  for (const [status, code] of refusals) {
    server.route('POST /v1/reports/call', () => httpError(status, code));
    await assert.rejects(client.reportCall({ matchId: 41, reason: 'other' }), (e) => {
      assert.ok(e instanceof TanisError);
      assert.deepEqual([e.code, e.status], [code, status]);
      return true;
    });
  }
  server.route('POST /v1/reports/call', () => {
    throw new Error('offline');
  });
  await assert.rejects(client.reportCall({ matchId: 41, reason: 'other' }), { code: 'network', status: 0 });
});

test('a snapshot over the server’s cap is refused before it is uploaded', async () => {
  const bytes = new Uint8Array(MAX_SNAPSHOT_BYTES + 1);
  await assert.rejects(
    client.reportCall({ matchId: 41, reason: 'nudity', snapshot: { contentType: 'image/jpeg', bytes } }),
    { code: 'snapshot_too_large', status: 413 },
  );
  assert.equal(reports().length, 0);
  await client.reportCall({ matchId: 41, reason: 'nudity', snapshot: { contentType: 'image/png', bytes: new Uint8Array(MAX_SNAPSHOT_BYTES) } });
  assert.equal(reports().length, 1, 'exactly the cap is sent');
});
