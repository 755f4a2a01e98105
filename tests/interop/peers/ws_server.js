'use strict';
// A Node.js `ws` 8.x server speaking the interop tests' protocol (see tests/interop/_support.py):
// echo every message with its type; "cmd:fragment" sends the configured fragments as one TEXT message;
// "cmd:ping" pings with the probe and answers "pong:probe" when the pong arrives; "cmd:close" closes with the
// configured code and reason.
// Usage: node ws_server.js CONFIG_JSON   with {"fragments": [<base64>...], "probe": <base64>,
//                                              "close_code": int, "close_reason": str}
// stdout: JSON events: listening {port}, connection, close {code, reason} (what the client sent), error {message}.
// Runs until stdin ends.
let WebSocket;
try {
  WebSocket = require('ws');
} catch (err) {
  console.error('the ws package is missing: run scripts/install-interop-peers');
  process.exit(3);
}

const config = JSON.parse(process.argv[2]);
const fragments = config.fragments.map((f) => Buffer.from(f, 'base64'));
const probe = Buffer.from(config.probe, 'base64');
const emit = (event) => process.stdout.write(JSON.stringify(event) + '\n');

const wss = new WebSocket.WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 64 * 1024 * 1024 });
wss.on('listening', () => emit({ event: 'listening', port: wss.address().port }));
wss.on('error', (err) => emit({ event: 'error', message: String(err) }));
wss.on('connection', (ws) => {
  emit({ event: 'connection' });
  ws.on('error', (err) => emit({ event: 'error', message: String(err) }));
  ws.on('close', (code, reason) => emit({ event: 'close', code, reason: reason.toString('utf8') }));
  ws.on('pong', (data) => {
    if (data.equals(probe)) ws.send('pong:probe');
  });
  ws.on('message', (data, isBinary) => {
    const text = isBinary ? null : data.toString('utf8');
    if (text === 'cmd:fragment') {
      fragments.forEach((f, i) => ws.send(f, { binary: false, fin: i === fragments.length - 1 }));
    } else if (text === 'cmd:ping') {
      ws.ping(probe);
    } else if (text === 'cmd:close') {
      ws.close(config.close_code, config.close_reason);
    } else {
      ws.send(data, { binary: isBinary });
    }
  });
});

process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
