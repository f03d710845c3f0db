#!/usr/bin/env node
// Finds import cycles in the repository's TypeScript sources and exits 1 when there is one.
//
//   node scripts/import-cycles.mjs            # the whole repository
//   node scripts/import-cycles.mjs <dir>      # another tree laid out the same way (used by its test)
//
// Every static import and re-export counts, `import type` included (a type-only cycle is still
// two files that cannot be understood apart), and so does `import()` with a literal specifier.
// Relative specifiers resolve to the `.ts` file (`./x.js` → `./x.ts`, `./dir` → `./dir/index.ts`);
// `@tendril/<name>[/<subpath>]` resolves through the workspace package's `exports` to its source
// (`./dist/<path>.js` → `src/<path>.ts`), so cycles across packages are found too, and
// `@tendril/<name>/test-support/<path>` to `src/<path>.test-support.ts` (see vitest.config.ts).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const SKIPPED_DIRECTORIES = new Set(['node_modules', 'dist', '.git', '__snapshots__', 'test-results']);

/** Every `.ts` file (not `.d.ts`) under `dir`, skipping build output and dependencies. */
function listSources(dir, out = []) {
  for (const entry of readdirSync(dir)) {
    if (SKIPPED_DIRECTORIES.has(entry) || entry.startsWith('.')) continue;
    const path = join(dir, entry);
    const stat = statSync(path);
    if (stat.isDirectory()) listSources(path, out);
    else if (entry.endsWith('.ts') && !entry.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** `@tendril/<name>` → { dir, exports } for every workspace package with a package.json. */
function workspacePackages(root) {
  const packages = new Map();
  const visit = (dir, depth) => {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && dir !== root) {
      const json = JSON.parse(readFileSync(manifest, 'utf8'));
      if (typeof json.name === 'string') packages.set(json.name, { dir, exports: json.exports ?? {} });
    }
    if (depth === 0) return;
    for (const entry of readdirSync(dir)) {
      if (SKIPPED_DIRECTORIES.has(entry) || entry.startsWith('.')) continue;
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) visit(path, depth - 1);
    }
  };
  visit(root, 2);
  return packages;
}

function resolveTsFile(base) {
  const candidates = [
    base.replace(/\.(m?js)$/, '.ts'),
    base.endsWith('.ts') ? base : `${base}.ts`,
    join(base, 'index.ts'),
  ];
  return candidates.find((candidate) => existsSync(candidate) && statSync(candidate).isFile());
}

/** Maps a package export target (`./dist/testing/index.js`) to its source file. */
function exportTargetToSource(pkg, subpath) {
  const entry = pkg.exports[subpath];
  const target = typeof entry === 'string' ? entry : (entry?.import ?? entry?.default ?? entry?.types);
  const sourceGuess = target
    ? join(pkg.dir, target.replace(/^\.\/dist\//, 'src/').replace(/\.d\.ts$|\.js$/, '.ts'))
    : join(pkg.dir, 'src', subpath === '.' ? 'index.ts' : `${subpath.slice(2)}.ts`);
  return (
    resolveTsFile(sourceGuess.replace(/\.ts$/, '')) ?? (existsSync(sourceGuess) ? sourceGuess : undefined)
  );
}

function resolveSpecifier(from, specifier, packages) {
  if (specifier.startsWith('.')) return resolveTsFile(resolve(dirname(from), specifier));
  const match = /^(@tendril\/[^/]+)(\/.*)?$/.exec(specifier);
  if (!match) return undefined;
  const pkg = packages.get(match[1]);
  if (!pkg) return undefined;
  // Test support across packages (vitest.config.ts): `@tendril/x/test-support/<path>` → `src/<path>.test-support.ts`.
  const support = /^\/test-support\/(.+)$/.exec(match[2] ?? '');
  if (support) return resolveTsFile(join(pkg.dir, 'src', `${support[1]}.test-support.ts`));
  return exportTargetToSource(pkg, match[2] ? `.${match[2]}` : '.');
}

/** The module specifiers a file imports: static imports, re-exports and literal `import()`. */
function importedSpecifiers(file) {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, false);
  const specifiers = [];
  const visit = (node) => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      specifiers.push(node.moduleSpecifier.text);
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteralLike(node.arguments[0])
    ) {
      specifiers.push(node.arguments[0].text);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      const literal = node.argument.literal;
      if (ts.isStringLiteral(literal)) specifiers.push(literal.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return specifiers;
}

/** Strongly connected components with more than one file (or a file importing itself), Tarjan. */
function stronglyConnected(graph) {
  let index = 0;
  const indices = new Map();
  const lowlinks = new Map();
  const stack = [];
  const onStack = new Set();
  const components = [];
  const strongConnect = (start) => {
    // Iterative, so a long import chain cannot overflow the call stack.
    const work = [{ node: start, edges: [...(graph.get(start) ?? [])], i: 0 }];
    indices.set(start, index);
    lowlinks.set(start, index);
    index++;
    stack.push(start);
    onStack.add(start);
    while (work.length) {
      const frame = work[work.length - 1];
      if (frame.i < frame.edges.length) {
        const next = frame.edges[frame.i++];
        if (!indices.has(next)) {
          indices.set(next, index);
          lowlinks.set(next, index);
          index++;
          stack.push(next);
          onStack.add(next);
          work.push({ node: next, edges: [...(graph.get(next) ?? [])], i: 0 });
        } else if (onStack.has(next)) {
          lowlinks.set(frame.node, Math.min(lowlinks.get(frame.node), indices.get(next)));
        }
        continue;
      }
      work.pop();
      if (work.length) {
        const parent = work[work.length - 1].node;
        lowlinks.set(parent, Math.min(lowlinks.get(parent), lowlinks.get(frame.node)));
      }
      if (lowlinks.get(frame.node) === indices.get(frame.node)) {
        const component = [];
        let member;
        do {
          member = stack.pop();
          onStack.delete(member);
          component.push(member);
        } while (member !== frame.node);
        const selfLoop = component.length === 1 && (graph.get(component[0]) ?? new Set()).has(component[0]);
        if (component.length > 1 || selfLoop) components.push(component);
      }
    }
  };
  for (const node of [...graph.keys()].sort()) if (!indices.has(node)) strongConnect(node);
  return components;
}

/** One concrete cycle through a component, shortest from its first file (breadth first). */
function cycleThrough(component, graph) {
  const members = new Set(component);
  const start = [...component].sort()[0];
  const previous = new Map([[start, undefined]]);
  const queue = [start];
  while (queue.length) {
    const node = queue.shift();
    for (const next of graph.get(node) ?? []) {
      if (!members.has(next)) continue;
      if (next === start) {
        const path = [node];
        for (let at = previous.get(node); at !== undefined; at = previous.get(at)) path.unshift(at);
        return [...path, start];
      }
      if (!previous.has(next)) {
        previous.set(next, node);
        queue.push(next);
      }
    }
  }
  return [start, start];
}

/**
 * The import cycles of the TypeScript sources under `root`: each is `{ files, path }` with the
 * files of one strongly connected component and one cycle through it, as paths relative to root.
 */
export function findImportCycles(root) {
  const packages = workspacePackages(root);
  const files = listSources(root);
  const graph = new Map();
  for (const file of files) {
    const targets = new Set();
    for (const specifier of importedSpecifiers(file)) {
      const target = resolveSpecifier(file, specifier, packages);
      if (target) targets.add(target);
    }
    graph.set(file, targets);
  }
  const rel = (file) => relative(root, file);
  return {
    filesChecked: files.length,
    cycles: stronglyConnected(graph)
      .map((component) => ({
        files: component.map(rel).sort(),
        path: cycleThrough(component, graph).map(rel),
      }))
      .sort((a, b) => a.files[0].localeCompare(b.files[0])),
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..'));
  const { filesChecked, cycles } = findImportCycles(root);
  if (cycles.length === 0) {
    console.log(`no import cycles in ${filesChecked} TypeScript files`);
  } else {
    console.log(`${cycles.length} import cycle(s) in ${filesChecked} TypeScript files:`);
    for (const cycle of cycles) {
      console.log(`- ${cycle.path.join(' → ')}`);
      if (cycle.files.length > cycle.path.length - 1)
        console.log(`  (all files involved: ${cycle.files.join(', ')})`);
    }
    process.exitCode = 1;
  }
}
