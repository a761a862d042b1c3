// Validates an AsyncAPI document with @asyncapi/parser, the AsyncAPI project's reference parser (its schema checks
// and its Spectral rules). Fails on any diagnostic of severity error or warning, and checks that what tanis promises
// is really in the document: every client and server frame as a message, the error and close codes, and the
// two ways to authenticate.
//
//   node tests/asyncapi/validate.mjs docs/asyncapi.json

import { readFile } from 'node:fs/promises';
import assert from 'node:assert/strict';
import { Parser, DiagnosticSeverity } from '@asyncapi/parser';

const path = process.argv[2] ?? new URL('../../docs/asyncapi.json', import.meta.url).pathname;
const text = await readFile(path, 'utf8');
const { document, diagnostics } = await new Parser().parse(text);

const serious = diagnostics.filter(
  (d) => d.severity === DiagnosticSeverity.Error || d.severity === DiagnosticSeverity.Warning,
);
for (const d of serious) {
  console.error(`${path}: ${DiagnosticSeverity[d.severity]} ${d.code} at ${d.path.join('.')}: ${d.message}`);
}
if (!document || serious.length > 0) {
  console.error(`${path}: not a valid AsyncAPI document (${serious.length} problems)`);
  process.exit(1);
}

assert.equal(document.version(), '3.0.0');
const messages = document.allMessages().all().map((m) => m.id());
const client = messages.filter((id) => id.startsWith('client.'));
const server = messages.filter((id) => id.startsWith('server.'));
for (const id of ['client.match.find', 'client.msg.send', 'client.report', 'server.hello', 'server.msg', 'server.error']) {
  assert.ok(messages.includes(id), `${id} is a message`);
}
const operations = Object.fromEntries(document.operations().all().map((o) => [o.id(), o]));
assert.equal(operations.receiveClientFrames.action(), 'receive');
assert.equal(operations.sendServerFrames.action(), 'send');
assert.equal(operations.receiveClientFrames.messages().length, client.length);
assert.equal(operations.sendServerFrames.messages().length, server.length);
const schemas = document.components().schemas();
assert.ok(schemas.get('ErrorCode'), 'ErrorCode schema');
assert.ok(schemas.get('CloseCode'), 'CloseCode schema');
const schemes = document.components().securitySchemes().all().map((s) => s.type());
assert.deepEqual(schemes.sort(), ['http', 'httpApiKey']);
console.log(`${path}: valid AsyncAPI ${document.version()}, ${client.length} client and ${server.length} server frames`);
