// Every frame an SDK client of these tests sends or receives is checked against the server's AsyncAPI document
// (docs/asyncapi.json, which the Rust suite keeps equal to GET /asyncapi.json): a frame the document does not
// describe is a failure of the test file that saw it (`assertFramesDescribed`, run by the harness's `closeAll`).
// The same contract as tests/api/frames.rs, for the JavaScript side.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import Ajv from 'ajv';
import WebSocket from 'ws';

const document = JSON.parse(readFileSync(new URL('../../../docs/asyncapi.json', import.meta.url), 'utf8'));
// Draft-07 schemas as schemars writes them; `format` (date-time, int64…) is annotation here, as in the Rust check.
const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: true });
ajv.addSchema({ components: document.components }, 'asyncapi');
const validators = {
  sent: ajv.compile({ $ref: 'asyncapi#/components/schemas/ClientFrame' }),
  received: ajv.compile({ $ref: 'asyncapi#/components/schemas/ServerFrame' }),
};

const violations = [];
let checked = 0;

/** Records a violation when `text` is not a frame the document describes for this direction. */
export function checkFrame(direction, text) {
  checked += 1;
  let frame;
  try {
    frame = JSON.parse(text);
  } catch {
    violations.push(`${direction} a frame that is not JSON: ${text}`);
    return;
  }
  const validate = validators[direction];
  if (!validate(frame)) violations.push(`${direction} ${text}\n${ajv.errorsText(validate.errors)}`);
}

/** The `ws` WebSocket, every text frame through `checkFrame` (the SDK sees the same class). */
export class CheckedWebSocket extends WebSocket {
  constructor(...args) {
    super(...args);
    this.on('message', (data, isBinary) => {
      if (!isBinary) checkFrame('received', data.toString());
    });
  }

  send(data, ...rest) {
    if (typeof data === 'string') checkFrame('sent', data);
    super.send(data, ...rest);
  }
}

/** Fails unless every frame seen so far was described; `atLeastOne` proves the check ran at all. */
export function assertFramesDescribed({ atLeastOne = true } = {}) {
  assert.deepEqual(violations, [], 'frames the AsyncAPI document does not describe');
  if (atLeastOne) assert.ok(checked > 0, 'no frame was checked');
}
