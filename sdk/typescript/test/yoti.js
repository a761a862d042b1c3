// A stand-in of Yoti's Age Verification API for age_assurance.test.js, on the port scripts/sdk-test gave the
// server (SDK_TEST_YOTI_PORT). Like tests/api/yoti.rs it checks what Yoti checks — the bearer API key, the
// `Yoti-SDK-Id` header, JSON, method and path — and records any request Yoti would refuse; the test plays the user
// at Yoti's page by finishing a session here.

import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';

const SDK_ID = 'sdk-test-yoti-sdk-id';
const API_KEY = 'sdk-test-yoti-api-key';

export async function startYoti(port = Number(process.env.SDK_TEST_YOTI_PORT)) {
  const sessions = new Map();
  const rejected = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      const answer = (status, json) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(json));
      };
      const refuse = (status, why) => {
        rejected.push(why);
        answer(status, { error: why });
      };
      if (req.headers['yoti-sdk-id'] !== SDK_ID) return refuse(401, `Yoti-SDK-Id ${req.headers['yoti-sdk-id']}`);
      if (req.headers.authorization !== `Bearer ${API_KEY}`) return refuse(403, 'no or wrong bearer API key');
      if (req.method === 'POST' && req.url === '/api/v1/sessions') {
        if (req.headers['content-type'] !== 'application/json') return refuse(400, 'not JSON');
        const asked = JSON.parse(body);
        if (asked.type !== 'OVER' || asked.doc_scan?.threshold !== 18) return refuse(400, `session ${body}`);
        const id = randomUUID();
        sessions.set(id, { status: 'PENDING' });
        return answer(200, { id, status: 'PENDING', expires_at: '2099-01-01T00:00:00Z' });
      }
      const read = req.method === 'GET' && req.url.match(/^\/api\/v1\/sessions\/([0-9a-f-]+)\/result$/);
      if (read && sessions.has(read[1])) {
        return answer(200, { id: read[1], type: 'OVER', expires_at: '2099-01-01T00:00:00Z', ...sessions.get(read[1]) });
      }
      refuse(404, `${req.method} ${req.url}`);
    });
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    /** The user finishes session `id` at Yoti's page, found at or over `age` by `method`. */
    finish(id, age = 18, method = 'DOC_SCAN') {
      sessions.set(id, { status: 'COMPLETE', age, method });
    },
    /** Requests Yoti would have refused. */
    rejected,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
