// Nimbus' Node.js snapshot template (loaded by bootstrap.js when NIMBUS_TEMPLATE_FD is set;
// see the module docs of crates/nimbus-lambda/src/template.rs for the whole design).
//
// The template process runs the function's init phase once, reports `ready` on the control
// socket and then forks one execution environment per `fork` request (nimbus_fork.node, a
// small N-API addon, does the system calls). A forked environment receives its
// per-environment values (Runtime API endpoint, log stream, credentials, private /tmp
// size, the full seccomp filter) only after the fork, enters its own namespaces, gets its
// own event-loop backend (uv_loop_fork) and fresh randomness, and then serves invocations
// like any environment.
//
// Randomness: V8 seeds Math.random once per isolate, so every forked environment would
// repeat the template's sequence, and Node's crypto.randomUUID serves ids from a cache of
// random bytes. So, before the function's code loads (references it captures see the same
// functions): Math.random is replaced by a generator fed from crypto.randomFillSync whose
// buffer is discarded at each fork, and randomUUID (node:crypto and globalThis.crypto)
// bypasses Node's cache while in the template, so the cache is filled in each environment.
'use strict';

const fs = require('fs');
const path = require('path');
const crypto = require('crypto');

const addon = { exports: {} };
process.dlopen(addon, path.join(__dirname, 'nimbus_fork.node'));
const native = addon.exports;

let templatePhase = true;

// ---- Math.random: crypto-fed, reset at each fork ----
const POOL = 512;
const words = new Uint32Array(POOL * 2);
let next = POOL;

function random() {
  if (next === POOL) {
    crypto.randomFillSync(words);
    next = 0;
  }
  const i = next++ * 2;
  // 53 random bits, as V8 builds its doubles: [0, 1).
  return ((words[i] >>> 5) * 67108864 + (words[i + 1] >>> 6)) / 9007199254740992;
}

// ---- randomUUID: no cached entropy in the template ----
const nodeRandomUUID = crypto.randomUUID;

function uncached(options) {
  if (options === undefined) return { disableEntropyCache: true };
  if (options !== null && typeof options === 'object' && (options.disableEntropyCache === undefined || options.disableEntropyCache === false)) {
    return { ...options, disableEntropyCache: true };
  }
  // Invalid options: Node's own function reports them.
  return options;
}

function replace(obj, name, fn) {
  const d = Object.getOwnPropertyDescriptor(obj, name);
  Object.defineProperty(obj, name, { value: fn, writable: d ? d.writable : true, enumerable: d ? d.enumerable : false, configurable: true });
}

function prepare() {
  replace(Math, 'random', random);
  replace(crypto, 'randomUUID', function randomUUID(options) {
    return nodeRandomUUID(templatePhase ? uncached(options) : options);
  });
  const web = globalThis.crypto;
  const proto = web && Object.getPrototypeOf(web);
  const webRandomUUID = proto && proto.randomUUID;
  if (typeof webRandomUUID === 'function') {
    replace(proto, 'randomUUID', function randomUUID() {
      if (templatePhase && this === web) return nodeRandomUUID({ disableEntropyCache: true });
      return webRandomUUID.call(this);
    });
  }
}

// ---- the template ----

// Reports a failed init; the server falls back to a normal start, which reports it as usual.
function initError(fd, payload) {
  let body = JSON.stringify(payload);
  if (Buffer.byteLength(body) > 60000) body = JSON.stringify({ ...payload, trace: [] });
  if (Buffer.byteLength(body) > 60000) body = JSON.stringify({ errorType: payload.errorType, errorMessage: String(payload.errorMessage).slice(0, 30000), trace: [] });
  try {
    native.send(fd, `init-error ${body}`);
  } finally {
    native.exit(1);
  }
}

// Copies the template's /tmp (opened as `fd` before the private one was mounted) into it.
function copyTmp(fd) {
  const from = `/proc/self/fd/${fd}`;
  for (const name of fs.readdirSync(from)) {
    fs.cpSync(path.join(from, name), path.join('/tmp', name), { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
  }
}

// Runs after init: reports `ready` and forks environments. Returns only in a forked
// environment, once it is set up; `onEnv` applies the per-environment variables.
async function snapshot(fd, onEnv) {
  // One turn of the event loop first: what init left to settle (an unhandled rejection
  // ends the template here, and the server starts the function normally).
  await new Promise((resolve) => setImmediate(resolve));
  native.send(fd, 'ready');
  const chan = native.serve(fd);
  // ---- in the forked child ----
  templatePhase = false;
  next = POOL;
  let step = 'configuration';
  try {
    const cfg = JSON.parse(native.recv(chan));
    step = 'namespaces';
    const oldTmp = native.enter(chan, !!cfg.isolate, Number(cfg.tmp_bytes) || 0, String(cfg.seccomp || ''), Number(cfg.host_pid) || 0);
    // ---- in the environment's function process ----
    if (oldTmp >= 0) {
      step = 'copying /tmp';
      copyTmp(oldTmp);
      fs.closeSync(oldTmp);
    }
    step = 'environment';
    // Node caches them at start: the template's values.
    for (const [name, get] of [['pid', native.pid], ['ppid', native.ppid]]) {
      const d = Object.getOwnPropertyDescriptor(process, name);
      if (d && 'value' in d) Object.defineProperty(process, name, { ...d, value: get() });
    }
    for (const [k, v] of Object.entries(cfg.env || {})) process.env[k] = String(v);
    onEnv();
    // Node's own exit tears down its platform and joins the template's worker threads,
    // which do not exist in a forked process (it would wait forever): `process.exit` ends
    // with _exit instead, after the 'exit' listeners ran (stdout and stderr are pipes,
    // written synchronously: nothing is lost).
    process.reallyExit = function reallyExit(code) {
      native.exit(Number(code) | 0);
    };
  } catch (e) {
    try {
      native.send(chan, `fail ${step}: ${e && e.message ? e.message : String(e)}`.slice(0, 4000));
    } finally {
      native.exit(1);
    }
  }
  native.send(chan, 'up');
  fs.closeSync(chan);
}

module.exports = { prepare, initError, snapshot };
