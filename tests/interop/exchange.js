// One echo exchange over a WebSocket, run the same way in headless Chromium and in Node.
//
// exchange(open, specs, timeoutMs) opens a socket with open() (a browser WebSocket, or a
// Node `ws` WebSocket: both have the browser's onopen/onmessage/onclose API), sends one
// message per spec ([kind, size]: "text" or "binary", size in bytes), waits for each echo
// and compares it with what was sent, closes with 1000, and resolves to a plain object:
//   {extensions, results: [{kind, size, ok, gotKind, gotSize}], close: {code, reason}}
// Every wait is bounded by timeoutMs for the whole exchange; past it the promise rejects.
//
// A classic script: evaluated as-is in the browser (CDP Runtime.evaluate), require()d in
// Node. No imports, nothing from the page.

(function (root) {
    "use strict";

    // Text of exactly `size` UTF-8 bytes: words with 2- and 3-byte characters among them,
    // picked by a small LCG, so deflate has repeats to find and UTF-8 gets exercised.
    const WORDS = ["deflate ", "frame ", "héllo ", "✓ ", "context ", "takeover ",
        "window ", "münchen ", "données ", "sans-IO ", "—\n", "0123456789 "];
    const encoder = new TextEncoder();
    const WORD_BYTES = WORDS.map((w) => encoder.encode(w).length);

    function makeText(size) {
        const parts = [];
        let left = size;
        let x = 12345;
        while (left > 0) {
            x = (Math.imul(x, 1103515245) + 12345) >>> 0;
            const i = (x >>> 16) % WORDS.length;
            if (WORD_BYTES[i] <= left) {
                parts.push(WORDS[i]);
                left -= WORD_BYTES[i];
            } else {
                parts.push("x".repeat(left));
                left = 0;
            }
        }
        return parts.join("");
    }

    // Bytes: runs of LCG noise between runs of a counter, so part compresses and part not.
    function makeBinary(size) {
        const out = new Uint8Array(size);
        let x = 67890;
        for (let i = 0; i < size; i++) {
            x = (Math.imul(x, 1103515245) + 12345) >>> 0;
            out[i] = (i & 64) ? (x >>> 24) : (i & 0xff);
        }
        return out;
    }

    function sameBytes(a, b) {
        if (a.length !== b.length) return false;
        for (let i = 0; i < a.length; i++) {
            if (a[i] !== b[i]) return false;
        }
        return true;
    }

    function describe(data) {
        if (typeof data === "string") {
            return { gotKind: "text", gotSize: encoder.encode(data).length };
        }
        return { gotKind: "binary", gotSize: new Uint8Array(data).length };
    }

    function exchange(open, specs, timeoutMs) {
        let ws = null;
        let timer = null;
        const run = new Promise((resolve, reject) => {
            ws = open();
            ws.binaryType = "arraybuffer";
            const inbox = [];
            let wake = null;
            let closed = null;
            const poke = () => {
                if (wake !== null) {
                    const w = wake;
                    wake = null;
                    w();
                }
            };
            ws.onmessage = (event) => {
                inbox.push(event.data);
                poke();
            };
            ws.onclose = (event) => {
                closed = { code: event.code, reason: event.reason };
                poke();
            };
            ws.onerror = () => poke(); // a close event follows
            const settled = () => new Promise((r) => {
                wake = r;
            });
            const opened = () => new Promise((r, j) => {
                ws.onopen = () => r();
                const onclose = ws.onclose;
                ws.onclose = (event) => {
                    onclose(event);
                    j(new Error("closed before opening: " + event.code + " " + event.reason));
                };
            });

            (async () => {
                await opened();
                ws.onclose = (event) => {
                    closed = { code: event.code, reason: event.reason };
                    poke();
                };
                const results = [];
                for (const [kind, size] of specs) {
                    const sent = kind === "text" ? makeText(size) : makeBinary(size);
                    ws.send(sent);
                    while (inbox.length === 0 && closed === null) await settled();
                    if (inbox.length === 0) {
                        throw new Error("closed while waiting for the " + kind + " echo of " +
                            size + " B: " + JSON.stringify(closed));
                    }
                    const got = inbox.shift();
                    const ok = kind === "text"
                        ? typeof got === "string" && got === sent
                        : typeof got !== "string" && sameBytes(sent, new Uint8Array(got));
                    results.push(Object.assign({ kind, size, ok }, describe(got)));
                }
                const extensions = ws.extensions;
                ws.close(1000, "done");
                while (closed === null) await settled();
                return { extensions, results, close: closed };
            })().then(resolve, reject);

            timer = setTimeout(() => {
                reject(new Error("exchange timed out after " + timeoutMs + " ms"));
            }, timeoutMs);
        });
        return run.finally(() => {
            clearTimeout(timer);
            if (ws !== null && ws.readyState < 2) ws.close(1001, "gone");
        });
    }

    const api = { exchange, makeText, makeBinary };
    if (typeof module === "object" && module.exports) {
        module.exports = api;
    } else {
        root.wsInterop = api;
    }
})(typeof globalThis !== "undefined" ? globalThis : this);
