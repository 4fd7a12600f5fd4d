// Node `ws` as a client with permessage-deflate: node ws_client.js URL SPECS_JSON TIMEOUT_MS
//
// Runs exchange.js against URL and prints one JSON line: the exchange's result, plus the
// response's Sec-WebSocket-Extensions and the TCP byte counts (to see compression on the
// wire). Exits 0 when the exchange ran (the caller judges the result), 1 when it failed.
"use strict";

const WebSocket = require("ws");
const { exchange } = require("./exchange.js");

const [url, specs, timeout] = process.argv.slice(2);
let header = null;
let socket = null;

function open() {
    const ws = new WebSocket(url, {
        perMessageDeflate: { threshold: 0 }, // compress every message, even the small ones
        maxPayload: 64 << 20,
        handshakeTimeout: Number(timeout),
    });
    ws.on("upgrade", (response) => {
        header = response.headers["sec-websocket-extensions"] || null;
        socket = response.socket;
    });
    return ws;
}

exchange(open, JSON.parse(specs), Number(timeout)).then(
    (result) => {
        result.header = header;
        result.bytesRead = socket ? socket.bytesRead : null;
        result.bytesWritten = socket ? socket.bytesWritten : null;
        process.stdout.write(JSON.stringify(result) + "\n");
    },
    (error) => {
        process.stderr.write("ws_client.js: " + (error && error.stack || error) + "\n");
        process.exitCode = 1;
    },
);
