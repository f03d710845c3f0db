// `pnpm release -- --key <ed25519-private-key.pem> [--out <folder>] [--version <v>]`: builds the release tarball
// of the agent for this machine's platform (linux-x64 only), its SHA-256 and a detached Ed25519
// signature. docs/release.md describes the artefact; test/release.test.ts runs it with Node alone.
import { spawnSync } from 'node:child_process';
import { createHash, createPrivateKey, createPublicKey, sign } from 'node:crypto';
import {
  chmodSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));

function fail(message) {
  process.stderr.write(`release: ${message}\n`);
  process.exit(2);
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { stdio: ['ignore', 'inherit', 'inherit'], ...options });
  if (result.status !== 0)
    fail(`${command} ${args.join(' ')} failed (exit ${result.status ?? result.signal})`);
}

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    key: { type: 'string' },
    out: { type: 'string', default: join(ROOT, 'release') },
    // Stamps another version than packages/agent/package.json's into the artefact (its package.json
    // and RELEASE.json): how test/remote-upgrade.test.ts builds a second version to upgrade to.
    version: { type: 'string' },
  },
});
const keyFile = values.key ?? process.env['TENDRIL_RELEASE_KEY_FILE'];
if (!keyFile)
  fail('give the release signing key: --key <ed25519 private key, PEM> (or TENDRIL_RELEASE_KEY_FILE)');
let privateKey;
try {
  privateKey = createPrivateKey(readFileSync(keyFile));
} catch (error) {
  fail(`cannot read the release key ${keyFile}: ${error.message}`);
}
if (privateKey.asymmetricKeyType !== 'ed25519')
  fail(
    `the release key must be Ed25519 (openssl genpkey -algorithm ed25519), not ${privateKey.asymmetricKeyType}`,
  );

// Native addons are built for the machine that builds: only linux-x64 is produced (docs/release.md).
if (process.platform !== 'linux' || process.arch !== 'x64')
  fail(`releases are built on linux-x64 for linux-x64; this is ${process.platform}-${process.arch}`);
const platform = 'linux-x64';
const version =
  values.version ?? JSON.parse(readFileSync(join(ROOT, 'packages/agent/package.json'), 'utf8')).version;
if (!/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/.test(version))
  fail(`--version must be a release version like 0.2.0 or 0.2.0-rc.1, not ${version}`);
const name = `tendril-${version}-${platform}`;
const out = resolve(values.out);
const stage = join(out, name);
const tarball = join(out, `${name}.tar.gz`);

// 1. Compile.
run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-b'], { cwd: ROOT });

// 2. The agent with its production dependencies only (no dev dependencies, no test packages):
//    pnpm deploy copies each workspace package's `files` (dist) and installs the rest, building
//    the native addons (better-sqlite3; odbc when unixODBC's headers are there) for this machine.
rmSync(stage, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const pnpm = process.env['npm_execpath'];
const deploy = ['--filter', '@tendril/agent', 'deploy', '--prod', '--legacy', join(stage, 'lib')];
// pnpm deploy records its production-only install as the checkout's install state, and the next
// `pnpm <script>` would then "repair" the checkout by removing its dev dependencies: keep the
// checkout's state files as they were.
const installState = ['node_modules/.pnpm-workspace-state-v1.json', 'node_modules/.modules.yaml']
  .map((file) => join(ROOT, file))
  .filter((file) => existsSync(file))
  .map((file) => ({ file, bytes: readFileSync(file) }));
// The pnpm that runs `pnpm release` (a script to run with node, or pnpm's own executable), else the PATH's.
// (npm_execpath names npm's own script when this runs under npm or npx: that one is not used.)
const [command, args] =
  pnpm && /pnpm/.test(pnpm) && /\.[cm]?js$/.test(pnpm)
    ? [process.execPath, [pnpm, ...deploy]]
    : pnpm && /^pnpm/.test(basename(pnpm))
      ? [pnpm, deploy]
      : ['pnpm', deploy];
const deployed = spawnSync(command, args, { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
for (const { file, bytes } of installState) writeFileSync(file, bytes);
if (deployed.status !== 0)
  fail(`pnpm ${deploy.join(' ')} failed (exit ${deployed.status ?? deployed.signal})`);

// 3. Leave out what only building or testing needs: native build intermediates and sources, test
//    support of any package (the connectors' `testing` exports: generators, reference data, API
//    fakes), source maps and type declarations.
const removed = [];
function prune(dir) {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    const stat = lstatSync(path);
    if (stat.isSymbolicLink()) continue;
    const nativeJunk =
      stat.isDirectory() &&
      (/^build-tmp-/.test(entry) ||
        entry === 'obj.target' ||
        ((entry === 'deps' || entry === 'src') && /better-sqlite3$|odbc$/.test(dir)));
    const testSupport = stat.isDirectory() && entry === 'testing' && /@tendril[\\/+]/.test(path);
    const fileJunk =
      stat.isFile() &&
      (/\.(map|d\.ts)$/.test(entry) || entry === 'test_extension.node' || /\.test-support\.js$/.test(entry));
    if (nativeJunk || testSupport || fileJunk) {
      rmSync(path, { recursive: true, force: true });
      if (stat.isDirectory()) removed.push(path.slice(stage.length + 1));
    } else if (stat.isDirectory()) prune(path);
  }
}
prune(join(stage, 'lib'));
// A connector's `./testing` export points at what was just removed: drop it from its manifest too.
for (const manifest of readdirSync(join(stage, 'lib/node_modules/.pnpm'))
  .filter((d) => d.startsWith('@tendril+'))
  .flatMap((d) => {
    const scope = join(stage, 'lib/node_modules/.pnpm', d, 'node_modules/@tendril');
    return existsSync(scope) ? readdirSync(scope).map((p) => join(scope, p, 'package.json')) : [];
  })
  .filter((p) => existsSync(p))) {
  const pkg = JSON.parse(readFileSync(manifest, 'utf8'));
  if (pkg.exports && typeof pkg.exports === 'object' && './testing' in pkg.exports) {
    delete pkg.exports['./testing'];
    // pnpm deploy hard-links files from the workspace: unlink first, or this would edit the source.
    rmSync(manifest);
    writeFileSync(manifest, `${JSON.stringify(pkg, null, 2)}\n`);
  }
}

// The packaged agent's own version (`tendril --version`, /v1/status, the hub's site list).
{
  const manifest = join(stage, 'lib/package.json');
  const pkg = JSON.parse(readFileSync(manifest, 'utf8'));
  pkg.version = version;
  // pnpm deploy hard-links files from the workspace: unlink first, or this would edit the source.
  rmSync(manifest);
  writeFileSync(manifest, `${JSON.stringify(pkg, null, 2)}\n`);
}

// 4. The public half of the release key, for the agent to verify later releases (remote upgrade).
writeFileSync(
  join(stage, 'lib/release-public-key.pem'),
  createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }),
);

// 5. bin/tendril: the command, with the node on the PATH.
mkdirSync(join(stage, 'bin'));
writeFileSync(
  join(stage, 'bin/tendril'),
  [
    '#!/bin/sh',
    '# The `tendril` command of this release: runs the agent with the `node` on the PATH (Node.js >= 20.19).',
    '# Link it onto the PATH: ln -s /opt/tendril/bin/tendril /usr/local/bin/tendril',
    'self=$(readlink -f "$0" 2>/dev/null || printf \'%s\' "$0")',
    'root=$(cd "$(dirname "$self")/.." && pwd -P)',
    'exec node "$root/lib/dist/bin.js" "$@"',
    '',
  ].join('\n'),
);
chmodSync(join(stage, 'bin/tendril'), 0o755);
// A copy of its own before the mode changes (the deployed file is a hard link into the workspace).
const entry = join(stage, 'lib/dist/bin.js');
const entryText = readFileSync(entry);
rmSync(entry);
writeFileSync(entry, entryText, { mode: 0o755 });

// 6. The systemd unit template: what `tendril service install` writes for the paths of docs/release.md.
const agent = await import(join(stage, 'lib/dist/index.js'));
mkdirSync(join(stage, 'systemd'));
writeFileSync(
  join(stage, 'systemd/tendril.service'),
  [
    '# Template for a release unpacked to /opt/tendril, config in /etc/tendril. `tendril service install`',
    '# writes this file with your own paths; copy this one only if you keep these.',
    agent.systemdUnit({
      name: 'tendril',
      description: 'Tendril agent',
      nodePath: '/usr/bin/node',
      entryPath: '/opt/tendril/lib/dist/bin.js',
      configFile: '/etc/tendril/tendril.yaml',
      workingDirectory: '/etc/tendril',
      siteKey: { kind: 'key-file', path: '/etc/tendril/site.key' },
      user: 'tendril',
    }),
  ].join('\n'),
);

// 7. Docs, license, changelog.
for (const file of ['README.md', 'LICENSE', 'CHANGELOG.md']) cpSync(join(ROOT, file), join(stage, file));
cpSync(join(ROOT, 'docs'), join(stage, 'docs'), { recursive: true });
writeFileSync(
  join(stage, 'RELEASE.json'),
  `${JSON.stringify({ version, platform, node: '>=20.19', builtWith: process.version }, null, 2)}\n`,
);

// 8. The tarball (owner root, sorted, so two builds of one tree differ only by time), its SHA-256
//    (sha256sum format) and the detached Ed25519 signature of its bytes (base64).
rmSync(tarball, { force: true });
run('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '-czf', tarball, '-C', out, name]);
const bytes = readFileSync(tarball);
const sha256 = createHash('sha256').update(bytes).digest('hex');
writeFileSync(`${tarball}.sha256`, `${sha256}  ${basename(tarball)}\n`);
writeFileSync(`${tarball}.sig`, `${sign(null, bytes, privateKey).toString('base64')}\n`);
rmSync(stage, { recursive: true, force: true });

process.stdout.write(
  `${JSON.stringify({ tarball, sha256, bytes: bytes.length, signature: `${tarball}.sig`, removed: removed.length })}\n`,
);
