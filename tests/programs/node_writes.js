// Writes COUNT files under DIR/blobs/ one after another, with
// fs.createWriteStream (MODE=stream), fs.writeFileSync (MODE=sync),
// fs.writeFile (MODE=async: libuv's thread pool, or io_uring when libuv
// uses it) or fs.open + fs.write + fs.fsync + fs.close (MODE=fsync), and
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

function viaAsync(file) {
  return new Promise((resolve) => fs.writeFile(file, 'x', (e) => resolve(e ? e.code : null)));
}

async function viaFsync(file) {
  const p = fs.promises;
  let h;
  try {
    h = await p.open(file, 'w');
    await h.write('x');
    await h.sync();
    return null;
  } catch (e) {
    return e.code;
  } finally {
    if (h) await h.close().catch(() => {});
  }
}

const modes = { stream: viaStream, sync: viaSync, async: viaAsync, fsync: viaFsync };

(async () => {
  for (let i = 1; i <= Number(count); i++) {
    const file = path.join(dir, 'blobs', `n${i}`);
    const err = await modes[mode](file);
    console.log(err ? `${i} err ${err}` : `${i} ok`);
  }
})();
