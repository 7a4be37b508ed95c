#!/usr/bin/env bash
# `npm run test:package`: the package as a user gets it. Packs the repo (`npm pack`, whose prepack
# builds lib/), installs the tarball into a fresh empty project (its dependencies come from the npm
# registry), and there, with whatever `node` is first on PATH and nothing of the repo's tooling:
#   - checks that no build or test tool came along (tsx, esbuild, typescript, vitest),
#   - runs `npx ratchetd --help`, and test/package/cli-smoke.mjs: a broker, a daemon, `ctl whoami`,
#   - runs test/package/smoke.mjs: plain JavaScript importing ratchetd, ratchetd/bots and
#     ratchetd/harness, a two-daemon network, a message from daemon 0 to daemon 1,
#   - runs the README's harness example (chat.test.mjs, taken from README.md) with `node --test`,
#   - type-checks test/package/consumer.ts against the installed declarations (the repo's tsc,
#     strict, NodeNext, no skipLibCheck).
# .ci/run runs it on Node 20 and on Node 24. Leaves nothing behind (the temp dir is removed).
set -euo pipefail

repo="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/ratchetd-package-XXXXXX")"
trap 'rm -rf "$work"' EXIT
fail() { echo "package smoke: FAILED: $*" >&2; exit 1; }

echo "== package smoke on node $(node --version) (npm $(npm --version))"

echo "-- npm pack"
(cd "$repo" && npm pack --pack-destination "$work" >"$work/pack.log" 2>&1) || { cat "$work/pack.log" >&2; fail "npm pack"; }
tarballs=("$work"/ratchetd-*.tgz)
[ -f "${tarballs[0]}" ] || fail "npm pack produced no ratchetd-*.tgz"
tarball="${tarballs[0]}"
echo "   $(basename "$tarball"): $(wc -c <"$tarball") bytes, $(tar -tzf "$tarball" | wc -l) files"

echo "-- npm install into an empty project"
mkdir "$work/project"
cd "$work/project"
printf '{ "name": "ratchetd-package-smoke", "version": "1.0.0", "private": true, "type": "module" }\n' >package.json
npm install --no-audit --no-fund --loglevel=error "$tarball"
for tool in tsx esbuild typescript vitest; do
  [ ! -e "node_modules/$tool" ] || fail "the install brought $tool (a development tool) along"
done
[ ! -e node_modules/ratchetd/daemon ] || fail "the package ships TypeScript sources"

echo "-- npx ratchetd --help"
npx --no-install ratchetd --help >help.txt || fail "npx ratchetd --help exited $?"
grep -q '^Usage:' help.txt || fail "npx ratchetd --help printed no usage: $(head -c 300 help.txt)"
npx --no-install ratchetd broker --help >/dev/null || fail "npx ratchetd broker --help"

echo "-- node cli-smoke.mjs (ratchetd broker, daemon, ctl whoami)"
cp "$repo/test/package/cli-smoke.mjs" .
node cli-smoke.mjs

echo "-- node smoke.mjs (ratchetd, ratchetd/bots, ratchetd/harness: two daemons exchange a message)"
cp "$repo/test/package/smoke.mjs" .
node smoke.mjs

echo "-- node --test chat.test.mjs (the README's harness example, verbatim)"
awk '/^\/\/ chat\.test\.mjs /{on=1} on&&/^```$/{exit} on' "$repo/README.md" >chat.test.mjs
grep -q "startNetwork" chat.test.mjs || fail "README.md has no chat.test.mjs example"
# Its TAP report goes to a file, shown only on failure (this script's own lines say what ran).
node --test --test-reporter=tap chat.test.mjs >chat.tap 2>&1 || { cat chat.tap >&2; fail "node --test chat.test.mjs"; }
grep -q '^# pass 1$' chat.tap || { cat chat.tap >&2; fail "chat.test.mjs did not pass its one test"; }
echo "   chat.test.mjs: its one test passed"

echo "-- tsc: consumer.ts against the installed declarations"
cp "$repo/test/package/consumer.ts" .
cat >tsconfig.json <<EOF
{
  "compilerOptions": {
    "target": "ES2022", "module": "NodeNext", "moduleResolution": "NodeNext", "strict": true, "noEmit": true,
    "skipLibCheck": false, "types": ["node"], "typeRoots": ["$repo/node_modules/@types"]
  },
  "files": ["consumer.ts"]
}
EOF
node "$repo/node_modules/typescript/bin/tsc" -p . || fail "the installed declarations do not type-check consumer.ts"

echo "== package smoke passed on node $(node --version)"
