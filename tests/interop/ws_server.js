// Node `ws` as an echo server with permessage-deflate: node ws_server.js
//
// Listens on 127.0.0.1, a free port, and prints JSON lines on stdout: {"port": N} once
// listening, then for each connection when it ends {"extensions", "header" (the response's
// Sec-WebSocket-Extensions), "bytesRead", "bytesWritten", "code"}. Stops when its stdin
// closes (the test's end), or after a guard of 120 s so a forgotten server cannot outlive
// its test run.
"use strict";

const { WebSocketServer } = require("ws");

const wss = new WebSocketServer({
    host: "127.0.0.1",
    port: 0,
    perMessageDeflate: { threshold: 0 }, // compress every message, even the small ones
    maxPayload: 64 << 20,
});

function say(object) {
    process.stdout.write(JSON.stringify(object) + "\n");
}

wss.on("listening", () => say({ port: wss.address().port }));
// The response's Sec-WebSocket-Extensions, as ws is about to write it, for each request.
const answers = new WeakMap();
wss.on("headers", (headers, request) => {
    const line = headers.find((h) => /^sec-websocket-extensions:/i.test(h));
    answers.set(request, line ? line.replace(/^[^:]*:\s*/, "") : null);
});
wss.on("connection", (ws, request) => {
    const socket = request.socket;
    const header = answers.get(request) || null;
    ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on("close", (code) => say({
        extensions: ws.extensions, // the names of those negotiated, comma-separated
        header,
        bytesRead: socket.bytesRead,
        bytesWritten: socket.bytesWritten,
        code,
    }));
});

function stop() {
    for (const ws of wss.clients) ws.terminate();
    wss.close(() => process.exit(0));
}

process.stdin.on("end", stop);
process.stdin.resume();
setTimeout(() => {
    process.stderr.write("ws_server.js: guard of 120 s reached, stopping\n");
    process.exitCode = 2;
    stop();
}, 120000).unref();
