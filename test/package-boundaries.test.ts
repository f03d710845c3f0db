import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './support/paths.js';

/** Every package the build compiles (the root tsconfig's references). */
const rootConfig = JSON.parse(readFileSync(join(REPO_ROOT, 'tsconfig.json'), 'utf8')) as {
  references: { path: string }[];
};
const PACKAGES = rootConfig.references.map((reference) => reference.path);
const TEST_FILE = /\.(test|test-support|test-helper)\.ts$/;

/** The files `tsc -b` compiles into a package's dist. */
function compiledFiles(pkg: string): string[] {
  const configPath = join(REPO_ROOT, pkg, 'tsconfig.json');
  const parsed = ts.getParsedCommandLineOfConfigFile(
    configPath,
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
        throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
      },
    },
  );
  return parsed!.fileNames.map((file) => relative(REPO_ROOT, file));
}

/** Module specifiers of a file, each marked static or dynamic (`import()`). */
function specifiers(file: string): { text: string; dynamic: boolean }[] {
  const source = ts.createSourceFile(
    file,
    readFileSync(join(REPO_ROOT, file), 'utf8'),
    ts.ScriptTarget.Latest,
  );
  const found: { text: string; dynamic: boolean }[] = [];
  const visit = (node: ts.Node): void => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    )
      found.push({ text: node.moduleSpecifier.text, dynamic: false });
    else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteralLike(node.arguments[0])
    )
      found.push({ text: node.arguments[0].text, dynamic: true });
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

describe('package boundaries', () => {
  it('compiles no test, test support or test helper into any package', () => {
    expect(PACKAGES.length).toBeGreaterThan(10);
    const leaked = PACKAGES.flatMap((pkg) => compiledFiles(pkg).filter((file) => TEST_FILE.test(file)));
    expect(leaked).toEqual([]);
  });

  it('lets no compiled file import test support or vitest', () => {
    const offending = PACKAGES.flatMap((pkg) =>
      compiledFiles(pkg).flatMap((file) =>
        specifiers(file)
          .filter(({ text }) => /\.test(-support|-helper)?(\.js)?$|\/test-support\/|^vitest$/.test(text))
          .map(({ text }) => `${file} → ${text}`),
      ),
    );
    expect(offending).toEqual([]);
  });

  it("keeps the connectors' test support off their main entry", () => {
    const connectors = readdirSync(join(REPO_ROOT, 'connectors'));
    const offending = connectors.flatMap((id) =>
      compiledFiles(`connectors/${id}`)
        .filter((file) => !file.startsWith(`connectors/${id}/src/testing/`))
        .flatMap((file) =>
          specifiers(file)
            .filter(({ text }) => /(^|\/)testing(\/|\.js$|$)|^@tendril\/testing/.test(text))
            .map(({ text }) => `${file} → ${text}`),
        ),
    );
    expect(offending).toEqual([]);
  });

  it('gives the agent no static import of test support: demo and seed load it dynamically, in one place', () => {
    const testingImports = compiledFiles('packages/agent').flatMap((file) =>
      specifiers(file)
        .filter(({ text }) => /^@tendril\/testing|^@tendril\/connector-[a-z-]+\/testing$/.test(text))
        .map(({ text, dynamic }) => `${file} ${dynamic ? 'import()' : 'import'} ${text}`),
    );
    expect(testingImports).toEqual([
      'packages/agent/src/connector-test-support.ts import() @tendril/connector-open-dental/testing',
      'packages/agent/src/connector-test-support.ts import() @tendril/connector-openemr/testing',
      'packages/agent/src/connector-test-support.ts import() @tendril/connector-dentrix-enterprise/testing',
      'packages/agent/src/connector-test-support.ts import() @tendril/testing',
    ]);
    const manifest = JSON.parse(readFileSync(join(REPO_ROOT, 'packages/agent/package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    expect(manifest.dependencies['@tendril/testing']).toBeUndefined();
    expect(manifest.devDependencies['@tendril/testing']).toBe('workspace:*');
  });
});
