// Where `ratchetd` runs from: the compiled package, a bundle of the TypeScript sources, or the
// sources through tsx.
//
// An installed package (`npm install ratchetd`) holds no sources, only lib/js/ (built by `npm run
// build` before `npm pack`): it runs lib/js/main.js and needs neither esbuild nor tsx. A clone has
// the sources and runs them (a build left in lib/ there never runs stale code), as follows.
//
// The bundle (esbuild, one module per command, packages left to node_modules) starts in about half
// the time and memory of tsx, whose loader thread compiles and resolves every module at start. It is
// built on first use into dist/<fingerprint>/, where the fingerprint covers every source file's
// path, size and modification time: an edited source gets a fresh bundle on the next start, and a
// running process keeps the directory it started from. dist/ is not committed (a fresh clone builds
// on its first start, ~0.3 s). Set RATCHETD_FROM_SOURCE=1 to run the sources through tsx instead;
// if the bundle cannot be built, ratchetd says so on stderr and runs the sources.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SOURCE_DIRS = ['core', 'crypto', 'daemon', 'broker', 'bots'];
const ENTRY = join(ROOT, 'daemon', 'cli', 'main.ts');
const DIST = join(ROOT, 'dist');
/** The CLI of the compiled package (scripts/build.mjs). */
const PACKAGED = join(ROOT, 'lib', 'js', 'main.js');
/** Bundles of other source states are removed once this old (a running process may still use one). */
const STALE_BUNDLE_MS = 24 * 3600_000;

function sourceFiles(dir, out) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) sourceFiles(path, out);
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

function fingerprint(esbuildVersion) {
  const hash = createHash('sha256').update(`esbuild ${esbuildVersion}\0node ${process.version}\0`);
  const files = SOURCE_DIRS.flatMap((d) => sourceFiles(join(ROOT, d), [])).sort();
  for (const f of files) {
    const s = statSync(f);
    hash.update(`${f.slice(ROOT.length)}\0${s.size}\0${Math.round(s.mtimeMs)}\0`); // whole ms (a time set through a Date comes back a hair early)
  }
  return hash.digest('hex').slice(0, 16);
}

function pruneStale(keep) {
  const now = Date.now();
  for (const name of readdirSync(DIST)) {
    if (name === keep) continue;
    const path = join(DIST, name);
    try {
      if (now - statSync(path).mtimeMs > STALE_BUNDLE_MS) rmSync(path, { recursive: true, force: true });
    } catch {
      // another process pruned it
    }
  }
}

function bundleUrl() {
  const esbuild = createRequire(import.meta.url)('esbuild');
  const fp = fingerprint(esbuild.version);
  const dir = join(DIST, fp);
  const main = join(dir, 'main.js');
  if (!existsSync(main)) {
    mkdirSync(DIST, { recursive: true });
    // Built beside, then renamed into place: processes starting together never see half a bundle.
    const tmp = join(DIST, `.build-${fp}-${process.pid}-${Date.now()}`);
    try {
      esbuild.buildSync({
        entryPoints: { main: ENTRY },
        outdir: tmp, // dist/<fp>/: the same depth as daemon/<dir>/, so `new URL('../../…', import.meta.url)` still finds proto/ and bin/
        bundle: true,
        splitting: true, // each command's own modules load only for that command
        chunkNames: 'chunk-[hash]',
        format: 'esm',
        platform: 'node',
        target: 'node20',
        packages: 'external',
        logLevel: 'silent',
      });
      renameSync(tmp, dir);
    } catch (e) {
      rmSync(tmp, { recursive: true, force: true });
      if (!existsSync(main)) throw e; // else another process finished the same bundle first
    }
    pruneStale(fp);
  }
  return pathToFileURL(main).href;
}

async function sourceUrl() {
  const { register } = await import('tsx/esm/api');
  register();
  return pathToFileURL(ENTRY).href;
}

/** The module to import to run ratchetd. */
export async function entryUrl() {
  if (!existsSync(ENTRY)) {
    if (existsSync(PACKAGED)) return pathToFileURL(PACKAGED).href;
    throw new Error(`ratchetd: neither the sources (${ENTRY}) nor the compiled package (${PACKAGED}) are here`);
  }
  if (process.env.RATCHETD_FROM_SOURCE === '1') return sourceUrl();
  try {
    return bundleUrl();
  } catch (e) {
    process.stderr.write(`ratchetd: could not bundle the sources (${e instanceof Error ? e.message.split('\n')[0] : String(e)}); running them through tsx\n`);
    return sourceUrl();
  }
}
