// Runs first in every bundle scripts/hermes.mjs hands to the `hermes` CLI (Hermes 0.12.0 of hermes-engine-cli), as
// a plain script. The CLI is an engine without a host: its setTimeout ignores the delay (a FIFO of jobs run after
// the script) and it has no setInterval. Here, over that FIFO, an event loop with timers on a virtual clock: each
// job runs at its due time (promise jobs in between, the engine's microtask queue), and when only later timers are
// left the clock jumps to the next (Date.now jumps with it), so a test waits no real time. Then what a React Native
// app has and the CLI lacks: `crypto.getRandomValues` (react-native-get-random-values, which the SDK's install
// requires), Response (React Native's fetch), `Array.prototype.at` (later Hermes releases have it; the tests use
// it, the SDK does not); and what the test files (not the SDK) take from Node: `Buffer.from(text).toString('base64url')`,
// `new URL(url).pathname`.
(function (g) {
  var runJob = g.setTimeout; // the CLI's: FIFO, delay ignored
  var realNow = Date.now;
  var skipped = 0;
  var now = function () {
    return realNow() + skipped;
  };
  var timers = new Map();
  var nextId = 1;
  var pumping = false;
  var stopped = false;
  function due() {
    var best = null;
    timers.forEach(function (t, id) {
      if (!best || t.at < best.t.at || (t.at === best.t.at && id < best.id)) best = { id: id, t: t };
    });
    return best;
  }
  function pump() {
    pumping = false;
    if (stopped) return;
    var next = due();
    if (!next) return;
    var wait = next.t.at - now();
    if (wait > 0) skipped += wait;
    if (next.t.every === null) timers.delete(next.id);
    else next.t.at = now() + next.t.every;
    schedule();
    next.t.fn.apply(undefined, next.t.args);
  }
  function schedule() {
    if (!pumping && timers.size) {
      pumping = true;
      runJob(pump, 0);
    }
  }
  function add(fn, ms, every, args) {
    var id = nextId++;
    timers.set(id, { at: now() + Math.max(0, Number(ms) || 0), every: every, fn: fn, args: args });
    schedule();
    return id;
  }
  function clear(id) {
    timers.delete(Number(id));
  }
  g.setTimeout = function (fn, ms) {
    return add(fn, ms, null, Array.prototype.slice.call(arguments, 2));
  };
  g.setInterval = function (fn, ms) {
    return add(fn, ms, Math.max(1, Number(ms) || 0), Array.prototype.slice.call(arguments, 2));
  };
  g.setImmediate = function (fn) {
    return add(fn, 0, null, Array.prototype.slice.call(arguments, 1));
  };
  g.clearTimeout = g.clearInterval = g.clearImmediate = clear;
  Date.now = now;
  if (typeof g.queueMicrotask !== 'function') {
    g.queueMicrotask = function (fn) {
      Promise.resolve().then(fn);
    };
  }
  // The runner stops the loop once every test has run: a client a test left open would keep its heartbeat going.
  g.__hermesLoop = {
    stop: function () {
      stopped = true;
      timers.clear();
    },
  };

  if (!g.crypto || typeof g.crypto.getRandomValues !== 'function') {
    // What `react-native-get-random-values` installs in an app (from the platform's SecureRandom). The CLI has no
    // source of entropy: Math.random here, good enough for tests and for nothing else.
    g.crypto = {
      getRandomValues: function (array) {
        var bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
        for (var i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
        return array;
      },
    };
  }

  if (!Array.prototype.at) {
    Object.defineProperty(Array.prototype, 'at', {
      configurable: true,
      writable: true,
      value: function (i) {
        i = Math.trunc(i) || 0;
        if (i < 0) i += this.length;
        return i < 0 || i >= this.length ? undefined : this[i];
      },
    });
  }

  if (typeof g.Response !== 'function') {
    // React Native's (whatwg-fetch) in the shape the tests use: new Response(text | null, {status}).
    g.Response = function Response(body, init) {
      var text = body == null ? '' : String(body);
      this.status = (init && init.status) || 200;
      this.ok = this.status >= 200 && this.status < 300;
      this.headers = { get: function () { return null; } };
      this.text = function () { return Promise.resolve(text); };
      this.json = function () { return Promise.resolve(JSON.parse(text)); };
    };
  }

  if (typeof g.URL !== 'function') {
    // The tests' fetch stand-ins read `new URL(url).pathname` (React Native's URL has no pathname either).
    g.URL = function URL(url) {
      var m = /^([a-z][a-z0-9+.-]*:)\/\/([^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$/i.exec(String(url));
      if (!m) throw new TypeError('Invalid URL: ' + url);
      this.href = String(url);
      this.protocol = m[1];
      this.host = m[2];
      this.pathname = m[3] || '/';
      this.search = m[4] || '';
      this.hash = m[5] || '';
    };
  }

  if (typeof g.Buffer !== 'function') {
    var B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    g.Buffer = {
      from: function (text) {
        var bytes = unescape(encodeURIComponent(String(text)));
        return {
          toString: function (encoding) {
            var out = '';
            for (var i = 0; i < bytes.length; i += 3) {
              var n = (bytes.charCodeAt(i) << 16) | ((bytes.charCodeAt(i + 1) || 0) << 8) | (bytes.charCodeAt(i + 2) || 0);
              out += B64[n >> 18] + B64[(n >> 12) & 63] + (i + 1 < bytes.length ? B64[(n >> 6) & 63] : '=') + (i + 2 < bytes.length ? B64[n & 63] : '=');
            }
            if (encoding === 'base64url') out = out.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
            else if (encoding !== 'base64') throw new Error('Buffer shim: base64 and base64url only');
            return out;
          },
        };
      },
    };
  }
})(globalThis);
