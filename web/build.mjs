// Builds the watch page's static assets into chalicelib/web/dist (served at /assets/{name}).
//
//   player.js -> player.<hash>.js   (src/player.js, bundled and minified by esbuild)
//   watch.css -> watch.<hash>.css   (src/watch.css, minified by esbuild)
//   hls.js    -> hls.<hash>.js      (node_modules/hls.js/dist/hls.min.js, pinned in package-lock.json)
//
// <hash> is the first 10 hex digits of the SHA-256 of the file's content, so every name is
// immutable and cacheable forever. manifest.json maps the logical names to the hashed ones; it is
// written last, and files from older builds are removed after it.
// hls.js stays its own file (not bundled into the player) so that the page's own weight is
// measurable on its own (`devstack/pageweight.py`).

import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', 'chalicelib', 'web', 'dist');
// Browsers the watch page supports: evergreen desktop and mobile, Safari/iOS 15+.
const target = ['chrome90', 'edge90', 'firefox90', 'safari15', 'ios15'];

async function bundle(entry) {
  const result = await build({
    entryPoints: [join(here, 'src', entry)],
    bundle: true,
    minify: true,
    write: false,
    legalComments: 'none',
    target,
    ...(entry.endsWith('.js') ? { format: 'iife' } : {}),
    logLevel: 'warning',
  });
  return Buffer.from(result.outputFiles[0].contents);
}

async function hlsJs() {
  const text = await readFile(join(here, 'node_modules', 'hls.js', 'dist', 'hls.min.js'), 'utf8');
  // No source map is shipped, so drop the comment that would make dev tools ask for one.
  return Buffer.from(text.replace(/\n?\/\/# sourceMappingURL=\S+\s*$/, '\n'));
}

const hashed = (logical, body) => {
  const digest = createHash('sha256').update(body).digest('hex').slice(0, 10);
  const dot = logical.lastIndexOf('.');
  return `${logical.slice(0, dot)}.${digest}${logical.slice(dot)}`;
};

const assets = {
  'player.js': await bundle('player.js'),
  'watch.css': await bundle('watch.css'),
  'hls.js': await hlsJs(),
};

await mkdir(out, { recursive: true });
const manifest = {};
for (const [logical, body] of Object.entries(assets)) {
  const name = hashed(logical, body);
  manifest[logical] = name;
  await writeFile(join(out, name), body);
}
const tmp = join(out, 'manifest.json.tmp');
await writeFile(tmp, `${JSON.stringify(manifest, null, 2)}\n`);
await rename(tmp, join(out, 'manifest.json'));

const keep = new Set([...Object.values(manifest), 'manifest.json']);
for (const name of await readdir(out)) {
  if (!keep.has(name)) await unlink(join(out, name));
}
for (const [logical, name] of Object.entries(manifest)) {
  console.log(`${logical.padEnd(10)} -> ${name} (${assets[logical].length} bytes)`);
}
