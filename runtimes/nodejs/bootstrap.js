// Nimbus' Node.js runtime: a Lambda Runtime API client.
//
// Started once per execution environment with _HANDLER=file.function; loads the handler
// from LAMBDA_TASK_ROOT once (CommonJS `.js`/`.cjs`, or ES modules `.mjs` / `.js` under a
// `"type": "module"` package.json), then loops on GET /2018-06-01/runtime/invocation/next.
// Handlers may be async (return a promise) or take a callback. Errors are reported as
// {"errorType", "errorMessage", "stackTrace"}. Node standard library only.
//
// Snapshot template mode (NIMBUS_TEMPLATE_FD set): template.js runs the init phase once and
// forks the environments (see crates/nimbus-lambda/src/template.rs).
'use strict';

const net = require('net');
const fs = require('fs');
const path = require('path');
const { pathToFileURL } = require('url');

let [HOST, PORT] = (process.env.AWS_LAMBDA_RUNTIME_API || '127.0.0.1:9001').split(':');
const PREFIX = '/2018-06-01/runtime';
// One kept-alive HTTP/1.1 connection to the Runtime API, spoken directly on a socket:
// Node's http client (parser, agent, events) costs more CPU per invocation than
// everything else a small function does.
class Conn {
  constructor() {
    this.sock = net.connect({ host: HOST, port: Number(PORT || 80) });
    this.sock.setNoDelay(true);
    this.buf = Buffer.alloc(0);
    this.waiter = null;
    this.error = null;
    this.sock.on('data', (d) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      this.pump();
    });
    this.sock.on('error', (e) => this.fail(e));
    this.sock.on('close', () => this.fail(new Error('the Runtime API closed the connection')));
  }

  fail(e) {
    if (!this.error) this.error = e;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w.reject(e);
    }
  }

  // Completes the pending request once its whole response is buffered.
  pump() {
    if (!this.waiter) return;
    const buf = this.buf;
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) return;
    const lines = buf.toString('latin1', 0, end).split('\r\n');
    const status = Number(lines[0].split(' ')[1]);
    const headers = {};
    for (let i = 1; i < lines.length; i++) {
      const c = lines[i].indexOf(':');
      if (c > 0) headers[lines[i].slice(0, c).trim().toLowerCase()] = lines[i].slice(c + 1).trim();
    }
    let body;
    let rest;
    if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length']);
      if (buf.length < end + 4 + n) return;
      body = buf.subarray(end + 4, end + 4 + n);
      rest = buf.subarray(end + 4 + n);
    } else if ((headers['transfer-encoding'] || '').toLowerCase() === 'chunked') {
      const parts = [];
      let pos = end + 4;
      for (;;) {
        const le = buf.indexOf('\r\n', pos);
        if (le < 0) return;
        const size = parseInt(buf.toString('latin1', pos, le).split(';')[0], 16);
        if (size === 0) {
          let p = le + 2;
          for (;;) {
            const l2 = buf.indexOf('\r\n', p);
            if (l2 < 0) return;
            const blank = l2 === p;
            p = l2 + 2;
            if (blank) break;
          }
          body = Buffer.concat(parts);
          rest = buf.subarray(p);
          break;
        }
        if (buf.length < le + 2 + size + 2) return;
        parts.push(buf.subarray(le + 2, le + 2 + size));
        pos = le + 2 + size + 2;
      }
    } else {
      body = Buffer.alloc(0);
      rest = buf.subarray(end + 4);
    }
    this.buf = rest;
    const w = this.waiter;
    this.waiter = null;
    w.resolve({ status, headers, body });
  }

  request(method, p, body, headers) {
    return new Promise((resolve, reject) => {
      if (this.error) {
        reject(this.error);
        return;
      }
      this.waiter = { resolve, reject };
      let head = `${method} ${PREFIX}${p} HTTP/1.1\r\nHost: ${HOST}:${PORT}\r\n`;
      for (const [k, v] of Object.entries(headers || {})) {
        if (k.toLowerCase() !== 'content-length') head += `${k}: ${v}\r\n`;
      }
      const b = body === undefined ? null : Buffer.isBuffer(body) ? body : Buffer.from(String(body), 'utf8');
      if (b !== null || method !== 'GET') head += `Content-Length: ${b ? b.length : 0}\r\n`;
      head += '\r\n';
      const h = Buffer.from(head, 'utf8');
      this.sock.write(b && b.length ? Buffer.concat([h, b]) : h);
      this.pump();
    });
  }
}

let conn = null;

async function request(method, p, body, headers) {
  for (let attempt = 0; ; attempt++) {
    try {
      if (!conn || conn.error) conn = new Conn();
      return await conn.request(method, p, body, headers);
    } catch (e) {
      if (conn) conn.sock.destroy();
      conn = null;
      if (attempt >= 1) throw e;
    }
  }
}

function errorPayload(err, type) {
  if (!(err instanceof Error)) {
    return { errorType: type || 'string', errorMessage: String(err), trace: [] };
  }
  return {
    errorType: type || err.name || 'Error',
    errorMessage: err.message,
    trace: (err.stack || '').split('\n'),
  };
}

async function postError(p, payload) {
  const body = JSON.stringify(payload);
  await request('POST', p, body, {
    'Content-Type': 'application/vnd.aws.lambda.error+json',
    'Lambda-Runtime-Function-Error-Type': payload.errorType || 'Unhandled',
    'Content-Length': Buffer.byteLength(body),
  });
}

function isEsm(file) {
  if (file.endsWith('.mjs')) return true;
  if (file.endsWith('.cjs')) return false;
  let dir = path.dirname(file);
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg)) {
      try {
        return JSON.parse(fs.readFileSync(pkg, 'utf8')).type === 'module';
      } catch (e) {
        return false;
      }
    }
    const up = path.dirname(dir);
    if (up === dir) return false;
    dir = up;
  }
}

async function loadHandler() {
  const spec = process.env._HANDLER || '';
  const root = process.env.LAMBDA_TASK_ROOT || process.cwd();
  const dot = spec.lastIndexOf('.');
  if (dot <= 0 || dot === spec.length - 1) {
    throw Object.assign(new Error(`Bad handler ${spec}`), { lambdaType: 'Runtime.MalformedHandlerName' });
  }
  const modPath = spec.slice(0, dot);
  const fnPath = spec.slice(dot + 1);
  const base = path.resolve(root, modPath);
  let file = null;
  for (const ext of ['.js', '.mjs', '.cjs']) {
    if (fs.existsSync(base + ext)) {
      file = base + ext;
      break;
    }
  }
  if (!file) {
    throw Object.assign(new Error(`Cannot find module '${modPath}'\nRequire stack:\n- ${__filename}`), {
      lambdaType: 'Runtime.ImportModuleError',
      lambdaPrefix: 'Error: ',
    });
  }
  let mod;
  try {
    mod = isEsm(file) ? await import(pathToFileURL(file).href) : require(file);
  } catch (e) {
    if (e instanceof SyntaxError) {
      throw Object.assign(new Error(`${e.name}: ${e.message}`), { lambdaType: 'Runtime.UserCodeSyntaxError' });
    }
    throw e;
  }
  let fn = mod;
  for (const part of fnPath.split('.')) fn = fn ? fn[part] : undefined;
  if (typeof fn !== 'function' && mod && mod.default && typeof mod.default[fnPath] === 'function') {
    fn = mod.default[fnPath];
  }
  if (typeof fn !== 'function') {
    throw Object.assign(new Error(`${modPath}.${fnPath} is undefined or not exported`), { lambdaType: 'Runtime.HandlerNotFound' });
  }
  return fn;
}

function makeContext(headers) {
  const deadline = Number(headers['lambda-runtime-deadline-ms'] || 0);
  let clientContext;
  let identity;
  try {
    if (headers['lambda-runtime-client-context']) clientContext = JSON.parse(headers['lambda-runtime-client-context']);
  } catch (e) {}
  try {
    if (headers['lambda-runtime-cognito-identity']) identity = JSON.parse(headers['lambda-runtime-cognito-identity']);
  } catch (e) {}
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: headers['lambda-runtime-aws-request-id'],
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    identity,
    clientContext,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => {},
    succeed: () => {},
    fail: () => {},
  };
}

function runHandler(handler, event, context) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const callback = (err, result) => {
      if (settled) return;
      settled = true;
      if (err !== undefined && err !== null) reject(err);
      else resolve(result);
    };
    context.done = callback;
    context.succeed = (r) => callback(null, r);
    context.fail = (e) => callback(e || new Error('handled'));
    try {
      const r = handler(event, context, callback);
      if (r && typeof r.then === 'function') {
        r.then((v) => callback(null, v), (e) => callback(e === undefined || e === null ? new Error(String(e)) : e));
      } else if (handler.length < 3) {
        // A non-async handler without a callback parameter finishes when it returns.
        callback(null, r);
      }
    } catch (e) {
      callback(e);
    }
  });
}

// Template only: runs the Runtime API client once against a throwaway local server (one
// /next and one response), so the environments forked from the template do not compile
// that code on their first request. Best effort: without a loopback it is skipped.
async function primeRuntimeClient() {
  const saved = [HOST, PORT];
  const server = net.createServer((s) => {
    let seen = 0;
    s.on('data', (d) => {
      seen += d.toString('latin1').split('\r\n\r\n').length - 1;
      for (; seen > 0; seen--) {
        s.write('HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: prime\r\nLambda-Runtime-Deadline-Ms: 0\r\nContent-Length: 2\r\n\r\n{}');
      }
    });
    s.on('error', () => {});
  });
  try {
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    [HOST, PORT] = ['127.0.0.1', String(server.address().port)];
    const next = await request('GET', '/invocation/next');
    makeContext(next.headers);
    const body = JSON.stringify(JSON.parse(next.body.toString('utf8')));
    await request('POST', '/invocation/prime/response', body, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  } catch (e) {
    // Priming is an optimisation only.
  } finally {
    if (conn) {
      const sock = conn.sock;
      conn = null;
      await new Promise((resolve) => {
        sock.once('close', resolve);
        sock.destroy();
      });
    }
    await new Promise((resolve) => server.close(() => resolve()));
    [HOST, PORT] = saved;
  }
}

async function main() {
  const templateFd = process.env.NIMBUS_TEMPLATE_FD;
  delete process.env.NIMBUS_TEMPLATE_FD;
  const template = templateFd ? require(path.join(__dirname, 'template.js')) : null;
  if (template) template.prepare();
  let handler;
  try {
    handler = await loadHandler();
  } catch (e) {
    const payload = errorPayload(e, e.lambdaType);
    if (e.lambdaPrefix) payload.errorMessage = e.lambdaPrefix + payload.errorMessage;
    console.error(`${payload.errorType}: ${payload.errorMessage}`);
    if (template) template.initError(Number(templateFd), payload);
    try {
      await postError('/init/error', payload);
    } finally {
      process.exit(1);
    }
  }
  if (template) {
    await primeRuntimeClient();
    // Returns in each forked environment, with its own endpoint and log stream.
    await template.snapshot(Number(templateFd), () => {
      [HOST, PORT] = (process.env.AWS_LAMBDA_RUNTIME_API || '127.0.0.1:9001').split(':');
      conn = null;
    });
  }
  process.on('uncaughtException', async (e) => {
    console.error('Uncaught Exception', e);
    process.exit(129);
  });
  for (;;) {
    const next = await request('GET', '/invocation/next');
    if (next.status !== 200) process.exit(0);
    const id = next.headers['lambda-runtime-aws-request-id'];
    if (next.headers['lambda-runtime-trace-id']) process.env._X_AMZN_TRACE_ID = next.headers['lambda-runtime-trace-id'];
    let event;
    try {
      event = next.body.length ? JSON.parse(next.body.toString('utf8')) : {};
    } catch (e) {
      await postError(`/invocation/${id}/error`, errorPayload(e, 'Runtime.UnmarshalError'));
      continue;
    }
    const context = makeContext(next.headers);
    try {
      const result = await runHandler(handler, event, context);
      const body = JSON.stringify(result === undefined ? null : result);
      await request('POST', `/invocation/${id}/response`, body, {
        'Content-Type': 'application/json',
        'Content-Length': Buffer.byteLength(body),
      });
    } catch (e) {
      const payload = errorPayload(e);
      console.error(`${new Date().toISOString()}\t${id}\tERROR\tInvoke Error \t${JSON.stringify(payload)}`);
      await postError(`/invocation/${id}/error`, payload);
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
