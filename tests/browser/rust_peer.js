// The Rust reference client as a process (client/examples/peer.rs, BROWSER_TEST_PEER): it signs in, asks for a
// text match, prints one JSON event per line, and sends each line written to it (a line starting with `/` is a
// command: `/keep`, `/rekey`, `/report <seq>[,<seq>…]`, `/forge <seq>`). interop.test.js, contacts.test.js and
// evidence.test.js talk to it.

import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

import { PASSWORD, WAIT_MS, baseUrl, newPhone } from './harness.js';

export const PEER = process.env.BROWSER_TEST_PEER;
/** Why a test that needs the Rust peer cannot run, or false. */
export const needsPeer = !PEER && 'BROWSER_TEST_PEER is not set';

/** The Rust peer as a process: its JSON events, and a way to make it say something. */
export function startPeer(alias, { phone = newPhone() } = {}) {
  const child = spawn(PEER, ['--url', baseUrl, '--phone', phone, '--password', PASSWORD, '--alias', alias], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const events = [];
  const waiters = new Set();
  createInterface({ input: child.stdout }).on('line', (line) => {
    const event = JSON.parse(line);
    events.push(event);
    for (const waiter of waiters) waiter();
  });
  return {
    child,
    events,
    /** The first event (seen or to come) for which `wanted` holds. */
    next(wanted, what) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = events.find(wanted);
          if (!found) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`the Rust peer never reported ${what}; it said: ${JSON.stringify(events)}`));
        }, WAIT_MS);
        waiters.add(check);
        check();
      });
    },
    say(text) {
      child.stdin.write(`${text}\n`);
    },
    /** Closing its stdin makes it leave the match and exit. */
    async quit() {
      child.stdin.end();
      await new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', resolve)));
    },
  };
}
