// Where the time goes, from a V8 CPU profile of the measured code (node:inspector, sampled every
// 200 µs). Each sample is given to a stage by walking its stack from the leaf up: the first frame
// that a stage's rule matches decides; a frame a rule does not name (JSON.stringify, a Node
// built-in) is charged to the nearest named caller. "waiting" is time with no JavaScript running
// (the database answering, fsync, the network); "gc" is the garbage collector.
import { Session } from 'node:inspector/promises';

/** Runs `work` under the sampling profiler; returns its result and the profile. */
export async function profiled(work) {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  let result;
  try {
    result = await work();
  } finally {
    var { profile } = await session.post('Profiler.stop');
    session.disconnect();
  }
  return { result, profile };
}

/**
 * Milliseconds per stage. `rules` is a list of `[stage, test, { weak }]` where test gets a call
 * frame (`{ url, functionName }`) and says whether the frame belongs to the stage. From the leaf
 * up, the first frame a strong rule matches decides; a weak rule (a generic layer, such as the
 * SQLite driver under every store write) decides only when no strong rule matches anywhere up.
 */
export function stageTimes(profile, rules) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const SPECIAL = new Map([
    ['(idle)', 'waiting'],
    ['(garbage collector)', 'gc'],
    ['(program)', 'runtime (native)'],
  ]);
  const memo = new Map();
  const matchOf = (id) => {
    if (memo.has(id)) return memo.get(id);
    const { callFrame } = byId.get(id);
    const up = parent.get(id) === undefined ? {} : matchOf(parent.get(id));
    let strong = up.strong;
    let weak = up.weak;
    const own = rules.find(([, test]) => test(callFrame));
    if (own && own[2]?.weak) weak = own[0];
    else if (own) strong = own[0];
    // The profiler's own stop (node:inspector serialising the profile) is not the measured code.
    const profiler = up.profiler || callFrame.url === 'node:inspector';
    const result = { strong, weak, profiler, special: SPECIAL.get(callFrame.functionName) };
    memo.set(id, result);
    return result;
  };
  const totals = {};
  profile.samples.forEach((id, i) => {
    const { strong, weak, special, profiler } = matchOf(id);
    if (profiler) return;
    const stage = special ?? strong ?? weak ?? 'other';
    totals[stage] = (totals[stage] ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000;
  });
  return totals;
}

/** Prints stages, largest first, as ms, ms per 1,000 items and share of the total. */
export function printStages(title, totals, items) {
  const all = Object.values(totals).reduce((a, b) => a + b, 0);
  console.log(`${title} (CPU profile, ${items.toLocaleString('en-US')} items):`);
  for (const [stage, ms] of Object.entries(totals).sort((a, b) => b[1] - a[1])) {
    console.log(
      `  ${stage.padEnd(28)} ${ms.toFixed(0).padStart(7)} ms  ${((ms / items) * 1000).toFixed(1).padStart(8)} ms/1k  ${((ms / all) * 100).toFixed(1).padStart(5)} %`,
    );
  }
}

/** `url` contains one of `parts`. */
export const inUrl =
  (...parts) =>
  ({ url }) =>
    parts.some((part) => url.includes(part));
/** The function is named by `pattern`, in a file whose url contains `part`. */
export const named =
  (pattern, part = '') =>
  ({ url, functionName }) =>
    url.includes(part) && pattern.test(functionName);
