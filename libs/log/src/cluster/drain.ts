import type { ChainStore } from '../bifrost/bifrost.ts';
import { type LogChain, readChain } from '../bifrost/chain.ts';
import { realTimers, type Timers } from '../replicated/quorum.ts';
import { loadNodes, updateNodes } from './nodes.ts';

/**
 * Joining and leaving the log cluster: a node marks itself (or an operator marks it) draining, the rebalancer
 * moves every segment off it, and the node waits for that before it exits; an operator removes a drained node's
 * entry. A node re-registers with `draining` unset when it starts.
 */

/** Which segments still depend on a node: for a log server any segment naming it, for a sequencer open ones. */
export type LogNodeKind = 'log-server' | 'sequencer';

/** How many segments of `chains` name node `id` (as a log server: in any nodeset; as a sequencer: open ones). */
export function segmentsNaming(chains: LogChain[], id: string, kind: LogNodeKind): number {
  let n = 0;
  for (const c of chains)
    for (const s of c.segments) {
      if (kind === 'log-server' ? s.nodeset.some((m) => m.id === id) : s.sequencer.id === id && isOpen(c, s.index)) n++;
    }
  return n;
}

function isOpen(c: LogChain, index: number): boolean {
  const last = c.segments.at(-1)!;
  return !c.sealed && last.index === index && last.sealedTail === undefined;
}

/** The chains of `logIds` that exist. */
export async function readChains(metadata: ChainStore, logIds: string[]): Promise<LogChain[]> {
  const read = await Promise.all(logIds.map((id) => readChain(metadata, id)));
  return read.flatMap((c) => (c ? [c.chain] : []));
}

/**
 * Sets or clears `draining` on the log-nodes entry `id` (a log server, a sequencer, or both); returns whether
 * the id was found. What `stead ctl nodes drain <id>` calls.
 */
export async function setLogNodeDraining(metadata: ChainStore, id: string, draining: boolean): Promise<boolean> {
  let found = false;
  await updateNodes(metadata, (c) => {
    found = false;
    const logServers = { ...c.logServers };
    const sequencers = { ...c.sequencers };
    const ls = logServers[id];
    if (ls) {
      found = true;
      const { draining: _, ...rest } = ls;
      logServers[id] = draining ? { ...rest, draining: true } : rest;
    }
    const sq = sequencers[id];
    if (sq) {
      found = true;
      const { draining: _, ...rest } = sq;
      sequencers[id] = draining ? { ...rest, draining: true } : rest;
    }
    return { logServers, sequencers };
  });
  return found;
}

/**
 * Removes the log-nodes entry `id` (log server and sequencer); returns whether it was there. Refuses (throws)
 * while any segment of `logIds` names it as a log server, or any open segment as its sequencer: drain it first.
 */
export async function removeLogNode(metadata: ChainStore, id: string, logIds: string[]): Promise<boolean> {
  const nodes = await loadNodes(metadata);
  if (!nodes.logServers[id] && !nodes.sequencers[id]) return false;
  const chains = await readChains(metadata, logIds);
  const used = segmentsNaming(chains, id, 'log-server') + segmentsNaming(chains, id, 'sequencer');
  if (used > 0)
    throw new Error(
      `log node ${id} is still used by ${used} log segments; drain it first (stead ctl nodes drain ${id}) and wait until none names it`,
    );
  let found = false;
  await updateNodes(metadata, (c) => {
    const { [id]: ls, ...logServers } = c.logServers;
    const { [id]: sq, ...sequencers } = c.sequencers;
    found = ls !== undefined || sq !== undefined;
    return { logServers, sequencers };
  });
  return found;
}

export interface DrainLogNodeOptions {
  metadata: ChainStore;
  id: string;
  kind: LogNodeKind;
  /** The logs whose segments may name this node (read every poll). */
  logIds: () => Promise<string[]>;
  /** Give up (and let the process exit anyway) after this long. */
  timeoutMs: number;
  /**
   * Give up sooner when the count has not gone down for this long (default 10 s): nobody is moving segments off
   * this node (no admin runs the rebalancer, e.g. the whole cluster is stopping, or nowhere to move them).
   */
  stallMs?: number;
  pollMs?: number;
  timers?: Timers;
  log?: (level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void;
}

/**
 * Marks this node draining and waits (at most timeoutMs, or stallMs without progress) until no segment of the
 * managed logs depends on it (see segmentsNaming), logging progress; resolves with how many still do (0 when
 * drained). Failing reads of the metadata store are retried until then.
 */
export async function drainLogNode(o: DrainLogNodeOptions): Promise<number> {
  const timers = o.timers ?? realTimers;
  const pollMs = o.pollMs ?? 250;
  const start = timers.now();
  const stallMs = o.stallMs ?? 10_000;
  let left = Number.NaN;
  let lastLogMs = -Infinity;
  let best = Number.POSITIVE_INFINITY;
  let bestAtMs = start;
  try {
    await setLogNodeDraining(o.metadata, o.id, true);
  } catch (e) {
    o.log?.('warn', 'drain: cannot mark this node draining; stopping without draining', { error: String(e) });
    return Number.NaN;
  }
  while (timers.now() - start < o.timeoutMs) {
    try {
      left = segmentsNaming(await readChains(o.metadata, await o.logIds()), o.id, o.kind);
    } catch (e) {
      o.log?.('warn', 'drain: cannot read the log chains', { error: String(e) });
    }
    if (left === 0) {
      o.log?.('info', 'drain: no segment uses this node any more', { ms: timers.now() - start });
      return 0;
    }
    if (left < best) {
      best = left;
      bestAtMs = timers.now();
    } else if (timers.now() - bestAtMs >= stallMs) {
      o.log?.('warn', 'drain: no progress; stopping while segments still use this node', {
        segments: Number.isNaN(left) ? undefined : left,
        stalledMs: timers.now() - bestAtMs,
      });
      return left;
    }
    if (timers.now() - lastLogMs >= 2_000 && !Number.isNaN(left)) {
      lastLogMs = timers.now();
      o.log?.('info', `drain: ${left} segments still use this node`, { segments: left });
    }
    await new Promise<void>((r) => timers.after(pollMs, r));
  }
  o.log?.('warn', 'drain: stopping while segments still use this node', { segments: left, waitedMs: o.timeoutMs });
  return left;
}
