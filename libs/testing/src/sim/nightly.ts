import { replayCommand, type Simulation } from './simulation.ts';

export interface NightlyOptions {
  readonly start: number;
  readonly seeds: number;
  /** Stop starting new seeds after this long (default: no limit). */
  readonly budgetMs?: number;
  /** Progress and failure lines (default: console.log). */
  readonly print?: (line: string) => void;
  /** Progress line every this many seeds (default 1000). */
  readonly progressEvery?: number;
}

export interface NightlyReport {
  readonly start: number;
  /** Seeds actually run (fewer than asked when the budget ran out). */
  readonly ran: number;
  readonly failed: { seed: number; failure: string }[];
  readonly seconds: number;
  readonly budgetExhausted: boolean;
}

/** Runs seeds `start`, `start + 1`, … and names every failing seed with the command that replays it. */
export async function runNightly(sim: Simulation, opts: NightlyOptions): Promise<NightlyReport> {
  const print = opts.print ?? console.log;
  const every = opts.progressEvery ?? 1000;
  const t0 = performance.now();
  const elapsed = () => performance.now() - t0;
  const failed: { seed: number; failure: string }[] = [];
  let ran = 0;
  let budgetExhausted = false;
  for (let seed = opts.start; seed < opts.start + opts.seeds; seed++) {
    if (opts.budgetMs !== undefined && elapsed() > opts.budgetMs) {
      budgetExhausted = true;
      break;
    }
    let failure: string | undefined;
    try {
      failure = (await sim.run(seed, {})).failure;
    } catch (e) {
      failure = `threw ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`;
    }
    ran++;
    if (failure !== undefined) {
      failed.push({ seed, failure });
      print(`seed ${seed} FAILED: ${failure}\n  replay: ${replayCommand(sim, seed)}`);
    }
    if (ran % every === 0) {
      print(`${ran}/${opts.seeds} seeds, ${failed.length} failed, ${(elapsed() / 1000).toFixed(0)} s`);
    }
  }
  return { start: opts.start, ran, failed, seconds: Math.round(elapsed() / 1000), budgetExhausted };
}
