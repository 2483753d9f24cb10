// Writes COUNT files under DIR/blobs/ one after another, with
// fs.createWriteStream (MODE=stream) or fs.writeFileSync (MODE=sync), and
// prints "<n> ok" or "<n> err <code>" for each.
//   node node_writes.js MODE DIR COUNT
const fs = require('node:fs');
const path = require('node:path');
const [mode, dir, count] = process.argv.slice(2);

function viaStream(file) {
  return new Promise((resolve) => {
    const s = fs.createWriteStream(file, { flags: 'w' });
    s.on('error', (e) => resolve(e.code));
    s.on('finish', () => resolve(null));
    s.end(Buffer.alloc(16, 1));
  });
}

function viaSync(file) {
  try {
    fs.writeFileSync(file, 'x');
    return null;
  } catch (e) {
    return e.code;
  }
}

(async () => {
  for (let i = 1; i <= Number(count); i++) {
    const file = path.join(dir, 'blobs', `n${i}`);
    const err = mode === 'stream' ? await viaStream(file) : viaSync(file);
    console.log(err ? `${i} err ${err}` : `${i} ok`);
  }
})();
