#!/usr/bin/env node
// `npm run build` (also run by `npm pack` through `prepack`): the compiled package in lib/.
//
//   lib/js/     ESM JavaScript: one module per public entry point (index, bots, harness) and the CLI
//               (main), sharing chunks (esbuild, packages left to node_modules). Two levels below the
//               package root like the sources' daemon/api/, so `new URL('../../proto/…',
//               import.meta.url)` finds proto/ and `../../bin/ratchetd.mjs` finds the executable.
//   lib/types/  .d.ts for the entry points and everything they import (tsc, tsconfig.build.json),
//               with relative specifiers ending in .js as in any published package.
//
// A clone never needs this: bin/ratchetd.mjs runs the sources there (bin/entry.mjs).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const LIB = join(ROOT, 'lib');
const require = createRequire(import.meta.url);

/** The package's JavaScript entry points (lib/js/<name>.js) and the sources they are built from. */
export const ENTRY_POINTS = {
  index: 'exports/index.ts',
  bots: 'exports/bots.ts',
  harness: 'exports/harness.ts',
  main: 'daemon/cli/main.ts',
};

function buildJavaScript() {
  const esbuild = require('esbuild');
  esbuild.buildSync({
    absWorkingDir: ROOT,
    entryPoints: ENTRY_POINTS,
    outdir: join(LIB, 'js'),
    bundle: true,
    splitting: true, // one copy of each module across the entry points (instanceof works across them)
    chunkNames: 'chunk-[hash]',
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    logLevel: 'warning',
  });
}

function buildDeclarations() {
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json')], { stdio: 'inherit' });
  // The sources import './x.ts' (allowImportingTsExtensions); published declarations say './x.js'.
  const relativeTs = /((?:from|import)\s*\(?\s*)(['"])(\.{1,2}\/[^'"]*?)\.ts\2/g;
  for (const file of walk(join(LIB, 'types'))) {
    if (!file.endsWith('.d.ts')) continue;
    const text = readFileSync(file, 'utf8');
    const rewritten = text.replace(relativeTs, (_, head, quote, path) => `${head}${quote}${path}.js${quote}`);
    if (rewritten !== text) writeFileSync(file, rewritten);
  }
}

function* walk(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else yield path;
  }
}

/** Every file package.json's `exports` and `bin` name must exist after the build. */
function checkPackageTargets() {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const targets = [...Object.values(pkg.bin ?? {})];
  for (const value of Object.values(pkg.exports ?? {})) targets.push(...(typeof value === 'string' ? [value] : Object.values(value)));
  const missing = targets.filter((t) => !existsSync(join(ROOT, t)));
  if (missing.length > 0) throw new Error(`package.json names files the build did not produce: ${missing.join(', ')}`);
}

rmSync(LIB, { recursive: true, force: true });
buildJavaScript();
buildDeclarations();
checkPackageTargets();
process.stderr.write(`built ${LIB}\n`); // stderr: `npm pack --json` keeps stdout for its JSON
