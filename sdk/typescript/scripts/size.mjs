// The size budget: src/index.js bundled as an app's bundler would (esbuild, minified, ESM, platform neutral),
// crypto included, then gzipped. Fails above BUDGET_BYTES so that a new dependency or a careless import is seen.
//
//   node scripts/size.mjs          # prints the figure, exits 1 above the budget

import { gzipSync } from 'node:zlib';

import { build } from 'esbuild';

/** gzip bytes; docs/sdk.md states the current figure, kept at least 2 KiB under it (raising it is not the fix). */
const BUDGET_BYTES = 32 * 1024;

const result = await build({
  entryPoints: [new URL('../src/index.js', import.meta.url).pathname],
  bundle: true,
  minify: true,
  format: 'esm',
  platform: 'neutral',
  write: false,
  logLevel: 'error',
});
const code = result.outputFiles[0].contents;
const gzipped = gzipSync(code, { level: 9 }).length;
const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
console.log(`@tanis/client: ${kib(code.length)} minified, ${kib(gzipped)} gzipped (budget ${kib(BUDGET_BYTES)})`);
if (gzipped > BUDGET_BYTES) {
  console.error(`over the size budget by ${gzipped - BUDGET_BYTES} bytes`);
  process.exit(1);
}
