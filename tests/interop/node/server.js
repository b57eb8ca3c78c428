'use strict';
// A ws echo server for tests/interop/test_node_interop.py.
//
// Three WebSocketServers on 127.0.0.1, ephemeral ports: "deflate" with permessage-deflate
// enabled (ws leaves it off on the server side unless asked), "plain" without, and "tuned"
// with no context takeover both ways, server_max_window_bits=10 and client_max_window_bits=11
// (when the client offers that parameter). Once they listen, one JSON line on stdout gives
// their ports; after that, one JSON line per connection event ("open", "close", "error"),
// so that the test can check what this side saw.
//
// Every message is echoed with its type, except text messages that start with "cmd:",
// the command protocol that the wsfast servers of the tests speak too:
//   cmd:ping:DATA         send a ping carrying DATA; when its pong arrives, send "pong:DATA"
//   cmd:close:CODE:REASON start the closing handshake with CODE and REASON
//   cmd:fragments         send "fragmented ☃" as three text frames, then 01 02 03 04 as two
//                         binary frames
//   cmd:extensions        send "extensions:" and the negotiated extensions
//   cmd:terminate         drop the TCP connection without a closing handshake
//
// The process exits when its standard input closes, so it never outlives the test run.

const { WebSocketServer } = require('ws');

function log(event) {
  process.stdout.write(JSON.stringify(event) + '\n');
}

function handle(ws, request, name) {
  const path = request.url;
  log({
    event: 'open',
    server: name,
    path,
    offered: request.headers['sec-websocket-extensions'] || null,
    extensions: ws.extensions,
  });
  ws.on('message', (data, isBinary) => {
    if (!isBinary) {
      const text = data.toString('utf8');
      if (text.startsWith('cmd:')) {
        command(ws, text.slice(4));
        return;
      }
    }
    ws.send(data, { binary: isBinary });
  });
  ws.on('pong', (data) => ws.send('pong:' + data.toString('utf8')));
  ws.on('close', (code, reason) => {
    log({ event: 'close', server: name, path, code, reason: reason.toString('utf8') });
  });
  ws.on('error', (error) => log({ event: 'error', server: name, path, message: error.message }));
}

function command(ws, text) {
  const [verb, ...rest] = text.split(':');
  if (verb === 'ping') {
    ws.ping(Buffer.from(rest.join(':'), 'utf8'));
  } else if (verb === 'close') {
    ws.close(Number(rest[0]), rest.slice(1).join(':'));
  } else if (verb === 'fragments') {
    ws.send('frag', { fin: false });
    ws.send('ment', { fin: false });
    ws.send('ed ☃', { fin: true });
    ws.send(Buffer.from([1, 2]), { binary: true, fin: false });
    ws.send(Buffer.from([3, 4]), { binary: true, fin: true });
  } else if (verb === 'extensions') {
    ws.send('extensions:' + ws.extensions);
  } else if (verb === 'terminate') {
    ws.terminate();
  } else {
    ws.send('unknown command: ' + text);
  }
}

function start(name, options) {
  return new Promise((resolve, reject) => {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0, ...options });
    server.on('connection', (ws, request) => handle(ws, request, name));
    server.on('listening', () => resolve(server));
    server.on('error', reject);
  });
}

async function main() {
  const maxPayload = 16 * 1024 * 1024;
  const deflate = await start('deflate', { perMessageDeflate: true, maxPayload });
  const plain = await start('plain', { perMessageDeflate: false, maxPayload });
  const tuned = await start('tuned', {
    perMessageDeflate: {
      serverNoContextTakeover: true,
      clientNoContextTakeover: true,
      serverMaxWindowBits: 10,
      clientMaxWindowBits: 11,
    },
    maxPayload,
  });
  log({
    event: 'listening',
    deflate: deflate.address().port,
    plain: plain.address().port,
    tuned: tuned.address().port,
    ws: require('ws/package.json').version,
    node: process.version,
  });
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
}

main().catch((error) => {
  log({ event: 'fatal', message: String(error && error.stack) });
  process.exit(1);
});
