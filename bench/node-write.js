// node-write: the real-runtime benchmark. Writes small files with
// fs.writeFileSync in a loop, the way Harper writes blobs, and times the loop.
//
//   node node-write.js DIR ITERATIONS
//
// Cycles over 64 file names in DIR (created by the caller), 64 bytes each.
// Each call is open64 + write + close inside libuv on the main thread (run
// with UV_USE_IO_URING=0 so no open can bypass a preload library). Prints:
//
//   iterations=N ns=T ns_per_call=X
'use strict';
const fs = require('fs');
const path = require('path');

const [dir, itersArg] = process.argv.slice(2);
const iterations = Number(itersArg);
if (!dir || !Number.isInteger(iterations) || iterations < 0) {
  console.error('usage: node node-write.js DIR ITERATIONS');
  process.exit(2);
}
const names = Array.from({ length: 64 }, (_, i) => path.join(dir, `f${i}`));
const data = Buffer.alloc(64, 'x');
// Warm up: first calls compile the JS and fault pages in.
for (let i = 0; i < 1000; i++) fs.writeFileSync(names[i % 64], data);
const t0 = process.hrtime.bigint();
for (let i = 0; i < iterations; i++) fs.writeFileSync(names[i % 64], data);
const t = process.hrtime.bigint() - t0;
const per = iterations ? Number(t) / iterations : 0;
console.log(`iterations=${iterations} ns=${t} ns_per_call=${per.toFixed(1)}`);
