'use strict';
// A Node.js `ws` 8.x client remote-controlled by the interop tests.
// Usage: node ws_client.js URL
// stdin: one JSON command per line:
//   {"op": "send", "data": <base64>, "binary": bool, "fin": bool}   (fin=false starts/continues a fragmented message)
//   {"op": "ping", "data": <base64>}
//   {"op": "close", "code": int, "reason": str}
// stdout: one JSON event per line: open, message {binary, data}, pong {data}, close {code, reason}, error {message}.
// Binary payloads travel as base64 so that any byte survives the pipe. The process exits when the connection
// closes or stdin ends.
let WebSocket;
try {
  WebSocket = require('ws');
} catch (err) {
  console.error('the ws package is missing: run scripts/install-interop-peers');
  process.exit(3);
}
const readline = require('readline');

const emit = (event) => process.stdout.write(JSON.stringify(event) + '\n');
const ws = new WebSocket(process.argv[2], { maxPayload: 64 * 1024 * 1024 });

ws.on('open', () => emit({ event: 'open' }));
ws.on('message', (data, isBinary) => emit({ event: 'message', binary: isBinary, data: data.toString('base64') }));
ws.on('pong', (data) => emit({ event: 'pong', data: data.toString('base64') }));
ws.on('error', (err) => emit({ event: 'error', message: String(err) }));
ws.on('close', (code, reason) => {
  emit({ event: 'close', code, reason: reason.toString('utf8') });
  process.exit(0);
});

readline.createInterface({ input: process.stdin, crlfDelay: Infinity })
  .on('line', (line) => {
    const cmd = JSON.parse(line);
    const data = Buffer.from(cmd.data || '', 'base64');
    if (cmd.op === 'send') {
      ws.send(data, { binary: cmd.binary, fin: cmd.fin !== false });
    } else if (cmd.op === 'ping') {
      ws.ping(data);
    } else if (cmd.op === 'close') {
      ws.close(cmd.code, cmd.reason);
    } else {
      emit({ event: 'error', message: 'unknown op ' + cmd.op });
    }
  })
  .on('close', () => {
    // The test is over: don't outlive it.
    ws.terminate();
    process.exit(0);
  });
