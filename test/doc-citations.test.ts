import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './support/paths.js';

/**
 * Comments and docs cite this repository's docs as `docs/<file>.md, "<section>"` (a doc citing
 * another doc: `[<file>.md](<file>.md), "<section>"`). Every such citation must name a file that
 * exists and a heading it has, so a renamed section breaks this test instead of the reader.
 */
const trackedFiles = execFileSync('git', ['ls-files'], { cwd: REPO_ROOT, encoding: 'utf8' })
  .split('\n')
  .filter((file) => /\.(ts|mjs|md)$/.test(file));

/** The text with comment prefixes of wrapped lines removed, so a citation split over lines reads whole. */
function unwrapped(text: string): string {
  return text.replace(/\n[ \t]*(?:\*(?!\/)|\/\/)?[ \t]*/g, ' ');
}

function headingsOf(doc: string): Set<string> {
  const text = readFileSync(resolve(REPO_ROOT, doc), 'utf8');
  return new Set([...text.matchAll(/^#{1,6} +(.+?) *$/gm)].map((match) => match[1]!));
}

const CITATION = /(?:\bdocs\/([a-z0-9/-]+\.md)|\[[^\]]+\]\((?:\.\.\/)?([a-z0-9/-]+\.md)\)),? "([^"]+)"/g;

describe('doc citations', () => {
  it('name a doc of this repository and a section it has', () => {
    const broken: string[] = [];
    let checked = 0;
    for (const file of trackedFiles) {
      const text = unwrapped(readFileSync(resolve(REPO_ROOT, file), 'utf8'));
      for (const match of text.matchAll(CITATION)) {
        const doc = match[1] ? `docs/${match[1]}` : `docs/${match[2]!.replace(/^docs\//, '')}`;
        const section = match[3]!;
        if (section.startsWith('<')) continue; // the pattern itself, as a doc explains it
        checked++;
        if (!existsSync(resolve(REPO_ROOT, doc))) broken.push(`${file}: ${doc} does not exist`);
        else if (!headingsOf(doc).has(section)) broken.push(`${file}: ${doc} has no section "${section}"`);
      }
    }
    expect(broken).toEqual([]);
    expect(checked).toBeGreaterThan(80);
  });
});
