// Prints the closing line CI reads, "N passed, N failed, N skipped", from Vitest's JSON report.
// Files that failed to load count as failures, so a broken import can never read as green.
import { readFileSync } from 'node:fs';

const file = process.argv[2] ?? 'test-results/vitest.json';
let report;
try {
  report = JSON.parse(readFileSync(file, 'utf8'));
} catch {
  console.log('0 passed, 1 failed');
  console.error(`no test report at ${file}: the test run did not complete`);
  process.exit(1);
}
let passed = 0;
let failed = 0;
let skipped = 0;
for (const suite of report.testResults ?? []) {
  let failedInFile = 0;
  for (const test of suite.assertionResults ?? []) {
    if (test.status === 'passed') passed++;
    else if (test.status === 'failed') failedInFile++;
    else skipped++;
  }
  // A file can fail with no failing test (an import error, an empty suite, a hook): count it once.
  if (suite.status === 'failed' && failedInFile === 0) failedInFile = 1;
  failed += failedInFile;
}
if (report.success === false && failed === 0) failed = 1;
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 ? 1 : 0);
