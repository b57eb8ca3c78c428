'use strict';
// A scripted ws client for tests/interop/test_node_interop.py.
//
//   node client.js BASE_URI [--no-deflate | --deflate-options JSON] [--too-big BYTES]
//
// --deflate-options passes JSON (ws's names: serverNoContextTakeover, clientMaxWindowBits...)
// as the perMessageDeflate option; by default it's true, and false with --no-deflate.
//
// It runs the scenario below against a server that speaks the command protocol of
// server.js (echo, and "cmd:" text messages), and prints one JSON report on stdout:
// {"failures": [...], "extensions": ..., "closes": {...}, ...}. The test reads the report;
// the exit code is 0 unless the script itself broke. Every wait is bounded.
//
// Connections, by path:
//   BASE/echo           messages of every kind echoed, a fragmented message, a ping from
//                       this side, a ping from the server, fragments from the server; then
//                       this side closes with 4000 "bye ☃"
//   BASE/server-closes  the server closes with 4001 "server bye ☃"
//   BASE/too-big        (with --too-big) a message of BYTES bytes, over the server's limit:
//                       the server must close with 1009

const crypto = require('crypto');
const WebSocket = require('ws');

const WAIT_MS = 10000;
const args = process.argv.slice(2);
const base = args[0];
const optionsIndex = args.indexOf('--deflate-options');
let deflate = !args.includes('--no-deflate');
if (optionsIndex >= 0) deflate = JSON.parse(args[optionsIndex + 1]);
const tooBigIndex = args.indexOf('--too-big');
const tooBig = tooBigIndex >= 0 ? Number(args[tooBigIndex + 1]) : null;

const failures = [];
const report = {
  ws: require('ws/package.json').version,
  node: process.version,
  failures,
  closes: {},
};

function fail(what) {
  failures.push(what);
}

// Resolve with `promise`, or reject after WAIT_MS with a message naming `what`.
function bounded(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out waiting for ' + what)), WAIT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// A connection whose messages, pongs and close event are queued for `next()`.
function open(path) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(base + path, {
      perMessageDeflate: deflate,
      handshakeTimeout: WAIT_MS,
      maxPayload: 64 * 1024 * 1024,
    });
    const state = { ws, queue: [], waiters: [], closed: null, closeWaiters: [], response: null };
    const push = (item) => {
      const waiter = state.waiters.shift();
      if (waiter) waiter(item);
      else state.queue.push(item);
    };
    ws.on('upgrade', (response) => {
      state.response = response.headers['sec-websocket-extensions'] || null;
    });
    ws.on('message', (data, isBinary) => push({ kind: 'message', data, isBinary }));
    ws.on('pong', (data) => push({ kind: 'pong', data }));
    ws.on('close', (code, reason) => {
      state.closed = [code, reason.toString('utf8')];
      state.closeWaiters.forEach((waiter) => waiter(state.closed));
      state.waiters.forEach((waiter) => waiter({ kind: 'closed', closed: state.closed }));
      state.waiters = [];
    });
    ws.on('error', (error) => {
      state.error = error.message;
    });
    ws.on('open', () => resolve(state));
    ws.on('unexpected-response', (_, response) => reject(new Error('HTTP ' + response.statusCode)));
    ws.once('error', reject);
  });
}

function next(state, what) {
  if (state.queue.length) return Promise.resolve(state.queue.shift());
  if (state.closed) return Promise.resolve({ kind: 'closed', closed: state.closed });
  return bounded(new Promise((resolve) => state.waiters.push(resolve)), what);
}

function closed(state, what) {
  if (state.closed) return Promise.resolve(state.closed);
  return bounded(new Promise((resolve) => state.closeWaiters.push(resolve)), what);
}

function describe(data, isBinary) {
  const kind = isBinary ? 'binary' : 'text';
  return kind + '(' + data.length + ' bytes)';
}

async function expectMessage(state, expected, isBinary, what) {
  const item = await next(state, what);
  if (item.kind !== 'message') {
    fail(what + ': got ' + JSON.stringify(item) + ' instead of a message');
    return;
  }
  const want = Buffer.from(expected);
  if (item.isBinary !== isBinary || !want.equals(item.data)) {
    fail(what + ': got ' + describe(item.data, item.isBinary) + ', expected ' +
      describe(want, isBinary));
  }
}

async function echoes(state) {
  const messages = [
    ['hello', false],
    ['ünïcødé ☃ 𝄞 こんにちは', false],
    ['', false],
    [Buffer.from([0, 1, 254, 255]), true],
    [Buffer.alloc(0), true],
    ['y'.repeat(126), false],
    [Buffer.alloc(70000, 'w'), true],
    ['€ ☃ compressible text '.repeat(40000), false],
    [crypto.randomBytes(1024 * 1024 + 3), true],
  ];
  for (const [data, isBinary] of messages) {
    state.ws.send(data, { binary: isBinary });
    await expectMessage(state, data, isBinary, 'echo of ' + describe(Buffer.from(data), isBinary));
  }
  // One message in three frames from this side.
  state.ws.send('α', { fin: false });
  state.ws.send('β', { fin: false });
  state.ws.send('γ', { fin: true });
  await expectMessage(state, 'αβγ', false, 'echo of a fragmented message');
}

async function pings(state) {
  const payload = Buffer.from('ping ☃', 'utf8');
  state.ws.ping(payload);
  const item = await next(state, 'pong');
  if (item.kind !== 'pong' || !payload.equals(item.data)) {
    fail('pong: got ' + JSON.stringify(item));
  }
  // The server pings us; ws answers by itself; the server says when the pong arrived.
  state.ws.send('cmd:ping:server ping');
  await expectMessage(state, 'pong:server ping', false, 'the server seeing our pong');
}

async function serverFragments(state) {
  state.ws.send('cmd:fragments');
  await expectMessage(state, 'fragmented ☃', false, 'fragmented text from the server');
  await expectMessage(state, Buffer.from([1, 2, 3, 4]), true, 'fragmented binary from the server');
}

async function extensions(state) {
  report.extensions = state.ws.extensions;
  report.response_extensions = state.response;
  state.ws.send('cmd:extensions');
  const item = await next(state, 'extensions');
  if (item.kind === 'message') report.server_extensions = item.data.toString('utf8');
}

async function main() {
  const echo = await open('/echo');
  for (const step of [extensions, echoes, pings, serverFragments]) {
    try {
      await step(echo);
    } catch (error) {
      fail(step.name + ': ' + error.message);
    }
  }
  echo.ws.close(4000, 'bye ☃');
  report.closes.client = await closed(echo, 'the end of the closing handshake');

  const serverCloses = await open('/server-closes');
  serverCloses.ws.send('cmd:close:4001:server bye ☃');
  report.closes.server = await closed(serverCloses, 'the server to close');

  if (tooBig !== null) {
    const big = await open('/too-big');
    big.ws.send(crypto.randomBytes(tooBig));
    report.closes.too_big = await closed(big, 'the server to refuse a message over its limit');
  }
}

const guard = setTimeout(() => {
  fail('the scenario took over 45 s');
  process.stdout.write(JSON.stringify(report) + '\n');
  process.exit(2);
}, 45000);

main()
  .catch((error) => fail('scenario: ' + (error && error.message)))
  .finally(() => {
    clearTimeout(guard);
    process.stdout.write(JSON.stringify(report) + '\n');
    process.exit(0);
  });
