/**
 * The call tree around an invocation: up through its callers (`sys_invocation.invoked_by_id`) to the root, then
 * down from the root through the calls in each journal (`sys_journal.invoked_id`) and the invocations naming a
 * caller, one query per level. It answers "where in my chain of calls is it stuck": the unfinished invocations
 * none of whose callees is unfinished.
 */
import { type Row, toStr } from './format.ts';
import { calleesQuery, childrenQuery, invocationsByIdQuery } from './sql.ts';

export interface CallNode {
  id: string;
  target?: string;
  status?: string;
  result?: string;
  /** The caller's journal entry type (Call, OneWayCall, …), when the call is known from the journal. */
  via?: string;
  /** Known only as a caller or callee id: purged, or not created yet. */
  missing: boolean;
  children: CallNode[];
}

export interface CallTree {
  root: CallNode;
  /** Ids from the root down to the invocation asked for. */
  path: string[];
  /** The walk stopped at its depth or size limit. */
  truncated: boolean;
}

export type Query = (sql: string) => Promise<Row[]>;

function nodeOf(id: string, r: Row | undefined): CallNode {
  return {
    id,
    target: toStr(r?.target),
    status: toStr(r?.status),
    result: toStr(r?.completion_result),
    missing: r === undefined || toStr(r.status) === undefined,
    children: [],
  };
}

/** The callers of `id`, root first, ending with `id` itself (at most `maxDepth` up). */
async function ancestors(id: string, q: Query, maxDepth: number): Promise<CallNode[]> {
  const chain: CallNode[] = [];
  let cur: string | undefined = id;
  while (cur !== undefined && chain.length <= maxDepth) {
    const row: Row | undefined = (await q(invocationsByIdQuery([cur])))[0];
    chain.unshift(nodeOf(cur, row));
    cur = toStr(row?.invoked_by_id);
    if (cur !== undefined && chain.some((n) => n.id === cur)) break;
  }
  return chain;
}

/** Adds the callees of the nodes of `frontier` (by id) to them; answers the new nodes. */
async function expand(frontier: Map<string, CallNode>, seen: Set<string>, q: Query): Promise<CallNode[]> {
  const ids = [...frontier.keys()];
  const [fromJournal, fromCallers] = await Promise.all([q(calleesQuery(ids)), q(childrenQuery(ids))]);
  const added: CallNode[] = [];
  for (const r of [...fromJournal, ...fromCallers]) {
    const parent = frontier.get(toStr(r.parent_id) ?? '');
    const id = toStr(r.invoked_id);
    if (parent === undefined || id === undefined) continue;
    const existing = parent.children.find((c) => c.id === id);
    if (existing) {
      existing.via ??= toStr(r.entry_type);
      continue;
    }
    if (seen.has(id)) continue;
    seen.add(id);
    const node = nodeOf(id, toStr(r.status) === undefined ? undefined : r);
    node.target ??= toStr(r.invoked_target);
    node.via = toStr(r.entry_type);
    parent.children.push(node);
    added.push(node);
  }
  return added;
}

export async function loadCallTree(id: string, q: Query, opts = { maxDepth: 8, maxNodes: 300 }): Promise<CallTree> {
  const chain = await ancestors(id, q, opts.maxDepth);
  const root = chain[0];
  const seen = new Set<string>([root.id]);
  let frontier = new Map([[root.id, root]]);
  let truncated = chain.length > opts.maxDepth;
  for (let depth = 0; frontier.size > 0; depth++) {
    if (depth >= opts.maxDepth + chain.length || seen.size >= opts.maxNodes) {
      truncated = true;
      break;
    }
    const added = await expand(frontier, seen, q);
    frontier = new Map(added.map((n) => [n.id, n]));
  }
  // The chain's own nodes hold the rows read on the way up; keep what was found below, link the chain if missing.
  for (let i = 1; i < chain.length; i++) {
    const parent = findNode(root, chain[i - 1].id) ?? chain[i - 1];
    if (!parent.children.some((c) => c.id === chain[i].id)) parent.children.push(chain[i]);
  }
  return { root, path: chain.map((n) => n.id), truncated };
}

export function findNode(node: CallNode, id: string): CallNode | undefined {
  if (node.id === id) return node;
  for (const c of node.children) {
    const hit = findNode(c, id);
    if (hit) return hit;
  }
  return undefined;
}

const unfinished = (n: CallNode) => !n.missing && n.status !== 'completed';

/** The unfinished invocations none of whose callees is unfinished: where the chain waits. */
export function stuckIds(root: CallNode): Set<string> {
  const out = new Set<string>();
  const walk = (n: CallNode): boolean => {
    let below = false;
    for (const c of n.children) below = walk(c) || below;
    const open = unfinished(n);
    if (open && !below) out.add(n.id);
    return open || below;
  };
  walk(root);
  return out;
}

/** Node count of the tree. */
export function size(n: CallNode): number {
  return 1 + n.children.reduce((a, c) => a + size(c), 0);
}
