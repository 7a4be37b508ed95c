// The npm package, without the registry: `npm pack` (whose prepack builds lib/), the tarball's file
// list and exports map, and the tarball itself unpacked beside a link to this repo's node_modules
// (so its bare imports resolve), where the bin and ratchetd/harness must run from lib/ alone.
// test/package/smoke.sh does the real install from the registry (CI, Node 20 and 24).
import { execFile } from 'node:child_process';
import { builtinModules } from 'node:module';
import { mkdtemp, readdir, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** npm pack runs esbuild and tsc (a few seconds alone, more on a loaded machine). */
const PACK_TIMEOUT_MS = 120_000;

interface PackageJson {
  private?: boolean;
  engines?: { node?: string };
  bin?: Record<string, string>;
  exports?: Record<string, string | Record<string, string>>;
  files?: string[];
  scripts?: Record<string, string>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

type HarnessModule = typeof import('../../exports/harness.ts');

const DEV_TOOLS = ['tsx', 'esbuild', 'typescript', 'vitest', 'fast-check'];
/** What the tarball may hold: the compiled package, its executable, the schema, the systemd units, and npm's own files. */
const ALLOWED = [/^package\.json$/, /^README\.md$/, /^LICENSE$/, /^bin\/(ratchetd|entry)\.mjs$/, /^proto\/.+\.proto$/, /^lib\/js\/[\w-]+\.js$/, /^lib\/types\/.+\.d\.ts$/, /^systemd\/[\w@.-]+\.(service|env\.example)$/];

let dir: string;
let pkg: PackageJson;
let files: string[];
/** The unpacked tarball (`<dir>/unpacked/package`). */
let unpacked: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ratchetd-pack-'));
  pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as PackageJson;
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: ROOT, maxBuffer: 16 << 20 });
  const [packed] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
  if (packed === undefined) throw new Error(`npm pack printed no package: ${stdout.slice(0, 300)}`);
  files = packed.files.map((f) => f.path).sort();
  await run('mkdir', [join(dir, 'unpacked')]);
  await run('tar', ['-xzf', join(dir, packed.filename), '-C', join(dir, 'unpacked')]);
  await symlink(join(ROOT, 'node_modules'), join(dir, 'unpacked', 'node_modules'));
  unpacked = join(dir, 'unpacked', 'package');
}, PACK_TIMEOUT_MS);

afterAll(async () => {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

/** Bare specifiers of the static and dynamic imports in a compiled module. */
function bareImports(source: string): string[] {
  // `from`/`import` as keywords, not inside a string literal such as the schema field name 'from'.
  const specifiers = [...source.matchAll(/(?<!["'])(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)["']([^"']+)["']/g)].map((m) => m[1] as string);
  return specifiers.filter((s) => !s.startsWith('.') && !s.startsWith('/'));
}

function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] as string);
}

describe('npm pack', () => {
  it('is publishable, says which Node versions it supports, and builds before packing', () => {
    expect(pkg.private).toBeUndefined();
    expect(pkg.engines?.node).toBe('^20.0.0 || ^24.0.0');
    expect(pkg.scripts?.prepack).toBe('npm run build');
  });

  it('holds the compiled package, the bin and proto/, and no sources, tests, benches or fixtures', () => {
    const unexpected = files.filter((f) => !ALLOWED.some((pattern) => pattern.test(f)));
    expect(unexpected).toEqual([]);
    expect(files).toEqual(expect.arrayContaining(['bin/ratchetd.mjs', 'bin/entry.mjs', 'proto/ratchetd/v1/messenger.proto', 'lib/js/main.js', 'lib/js/index.js', 'lib/js/bots.js', 'lib/js/harness.js']));
  });

  it('exports ratchetd, ratchetd/bots and ratchetd/harness with types first, and the bin, all from files in the tarball', () => {
    expect(pkg.bin).toEqual({ ratchetd: 'bin/ratchetd.mjs' });
    const exported = pkg.exports ?? {};
    expect(Object.keys(exported)).toEqual(['.', './bots', './harness', './package.json']);
    for (const subpath of ['.', './bots', './harness']) {
      const conditions = exported[subpath];
      if (typeof conditions !== 'object') throw new Error(`exports["${subpath}"] is not a conditions object`);
      expect(Object.keys(conditions)).toEqual(['types', 'default']); // TypeScript reads the first match
      expect(conditions.types).toMatch(/^\.\/lib\/types\/.+\.d\.ts$/);
      expect(conditions.default).toMatch(/^\.\/lib\/js\/.+\.js$/);
      for (const target of Object.values(conditions)) expect(files).toContain(target.slice(2));
    }
  });

  it('the compiled JavaScript imports only Node built-ins and declared dependencies, none of them a dev tool', async () => {
    const dependencies = Object.keys(pkg.dependencies ?? {});
    expect(dependencies.filter((d) => DEV_TOOLS.includes(d) || d.startsWith('@types/'))).toEqual([]);
    const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
    const imported = new Set<string>();
    for (const file of [...(await readdir(join(unpacked, 'lib', 'js'))), '../../bin/entry.mjs', '../../bin/ratchetd.mjs']) {
      for (const s of bareImports(await readFile(join(unpacked, 'lib', 'js', file), 'utf8'))) imported.add(s);
    }
    const undeclared = [...imported].filter((s) => !builtins.has(s) && !dependencies.includes(packageName(s)));
    // bin/entry.mjs loads tsx (and esbuild, through require) only in a clone, where the sources are.
    expect(undeclared).toEqual(['tsx/esm/api']);
    expect(imported).toContain('@grpc/grpc-js');
  });
});

describe('the unpacked tarball (no sources)', () => {
  it('its bin runs the compiled CLI', async () => {
    const { entryUrl } = (await import(pathToFileURL(join(unpacked, 'bin', 'entry.mjs')).href)) as { entryUrl: () => Promise<string> };
    expect(await entryUrl()).toBe(pathToFileURL(join(unpacked, 'lib', 'js', 'main.js')).href);
    const { stdout, stderr } = await run(process.execPath, [join(unpacked, 'bin', 'ratchetd.mjs'), '--help']);
    expect(stdout).toContain('Usage:');
    expect(stderr).toBe('');
  });

  it('ratchetd/harness starts a network of its own bin whose two daemons exchange a message', async () => {
    const harness = (await import(pathToFileURL(join(unpacked, 'lib', 'js', 'harness.js')).href)) as HarnessModule;
    expect(harness.RATCHETD_BIN).toBe(join(unpacked, 'bin', 'ratchetd.mjs'));
    const net = await harness.startNetwork({ daemons: 2 });
    try {
      const alice = net.daemon(0);
      const bob = net.daemon(1);
      await alice.bot.send(bob.userId, 'from the tarball');
      expect((await bob.bot.waitForMessage((m) => m.from === alice.userId)).text).toBe('from the tarball');
    } finally {
      await net.stop();
    }
  });
});
