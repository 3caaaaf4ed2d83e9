/**
 * A linearizability checker in the style of Wing & Gong with Lowe's just-in-time linearization and memoization
 * of (linearized set, model state) pairs, as Porcupine does. Histories are split into independent partitions
 * (e.g. one per key) first, since linearizability is compositional.
 */

export interface Operation<I, O> {
  readonly client: number;
  readonly input: I;
  /** undefined when the outcome is unknown (timeout, crash): the operation may or may not have taken effect. */
  readonly output: O | undefined;
  /** Time of the call; must be unique and strictly ordered with `ret` values (use a logical event counter). */
  readonly call: number;
  /** Time of the return, Infinity when the outcome is unknown. */
  readonly ret: number;
}

export interface Model<S, I, O> {
  init(): S;
  /** Applies `input` to `state`; with an unknown `output` it must accept whatever the operation would do. */
  step(state: S, input: I, output: O | undefined): { ok: boolean; state: S };
  /** Stable string for memoization. */
  hash(state: S): string;
  /** Splits a history into independent parts (default: one part). */
  partition?(history: readonly Operation<I, O>[]): Operation<I, O>[][];
  describe?(op: Operation<I, O>): string;
}

export type CheckResult =
  | { readonly result: 'ok'; readonly partitions: number; readonly steps: number }
  | { readonly result: 'illegal'; readonly partition: number; readonly ops: string[]; readonly steps: number }
  | { readonly result: 'unknown'; readonly steps: number };

interface Node {
  kind: 'call' | 'ret';
  id: number;
  time: number;
  match: Node | undefined; // call -> its return
  prev: Node | undefined;
  next: Node | undefined;
}

export function checkLinearizable<S, I, O>(
  model: Model<S, I, O>,
  history: readonly Operation<I, O>[],
  options: { maxSteps?: number } = {},
): CheckResult {
  const parts = model.partition ? model.partition(history) : [history.slice()];
  const maxSteps = options.maxSteps ?? 5_000_000;
  let steps = 0;
  for (let p = 0; p < parts.length; p++) {
    const r = checkPartition(model, parts[p], maxSteps - steps);
    steps += r.steps;
    if (r.result === 'unknown') return { result: 'unknown', steps };
    if (r.result === 'illegal') {
      const describe = model.describe ?? ((op: Operation<I, O>) => JSON.stringify(op, bigintSafe));
      return { result: 'illegal', partition: p, ops: parts[p].map(describe), steps };
    }
  }
  return { result: 'ok', partitions: parts.length, steps };
}

function bigintSafe(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}

function checkPartition<S, I, O>(
  model: Model<S, I, O>,
  ops: readonly Operation<I, O>[],
  maxSteps: number,
): { result: 'ok' | 'illegal' | 'unknown'; steps: number } {
  const n = ops.length;
  if (n === 0) return { result: 'ok', steps: 0 };
  const events: Node[] = [];
  for (let i = 0; i < n; i++) {
    const ret: Node = { kind: 'ret', id: i, time: ops[i].ret, match: undefined, prev: undefined, next: undefined };
    const call: Node = { kind: 'call', id: i, time: ops[i].call, match: ret, prev: undefined, next: undefined };
    events.push(call, ret);
  }
  events.sort((a, b) => a.time - b.time || (a.kind === b.kind ? a.id - b.id : a.kind === 'call' ? -1 : 1));
  const head: Node = { kind: 'call', id: -1, time: -Infinity, match: undefined, prev: undefined, next: undefined };
  let prev = head;
  for (const e of events) {
    prev.next = e;
    e.prev = prev;
    prev = e;
  }
  let definite = 0;
  for (const op of ops) if (op.output !== undefined) definite++;

  const words = new Uint32Array(Math.ceil(n / 32));
  const cache = new Set<string>();
  const stack: { node: Node; state: S }[] = [];
  let state = model.init();
  let entry = head.next;
  let steps = 0;

  const lift = (c: Node) => {
    c.prev!.next = c.next;
    c.next!.prev = c.prev;
    const r = c.match!;
    r.prev!.next = r.next;
    if (r.next) r.next.prev = r.prev;
  };
  const unlift = (c: Node) => {
    const r = c.match!;
    r.prev!.next = r;
    if (r.next) r.next.prev = r;
    c.prev!.next = c;
    c.next!.prev = c;
  };

  while (definite > 0) {
    if (++steps > maxSteps) return { result: 'unknown', steps };
    if (entry === undefined) return { result: 'illegal', steps }; // unreachable: a return always precedes the end
    if (entry.kind === 'call') {
      const op = ops[entry.id];
      const r = model.step(state, op.input, op.output);
      if (r.ok) {
        words[entry.id >>> 5] |= 1 << (entry.id & 31);
        const key = `${words.join(',')}|${model.hash(r.state)}`;
        if (!cache.has(key)) {
          cache.add(key);
          stack.push({ node: entry, state });
          state = r.state;
          if (op.output !== undefined) definite--;
          lift(entry);
          entry = head.next;
          continue;
        }
        words[entry.id >>> 5] &= ~(1 << (entry.id & 31));
      }
      entry = entry.next;
    } else {
      const top = stack.pop();
      if (!top) return { result: 'illegal', steps };
      state = top.state;
      words[top.node.id >>> 5] &= ~(1 << (top.node.id & 31));
      if (ops[top.node.id].output !== undefined) definite++;
      unlift(top.node);
      entry = top.node.next;
    }
  }
  return { result: 'ok', steps };
}

// ------------------------------------------------------------------------------------------------------------
// The model of the metadata store: versioned values with conditional writes.

export type Precondition =
  | { readonly kind: 'none' }
  | { readonly kind: 'absent' }
  | { readonly kind: 'version'; readonly version: string };

export type KvInput =
  | { readonly kind: 'get'; readonly key: string }
  | { readonly kind: 'put'; readonly key: string; readonly value: string; readonly pre: Precondition }
  | { readonly kind: 'delete'; readonly key: string; readonly pre: Precondition };

export type KvOutput =
  | { readonly kind: 'get'; readonly value: string | null; readonly version: string | null }
  | { readonly kind: 'write'; readonly ok: boolean; readonly version?: string };

interface KvState {
  readonly value: string | null;
  readonly version: string | null;
}

/**
 * Model of one key of the store. Values written by puts must be unique in a history; versions are whatever the
 * store returned (opaque). A put whose outcome is unknown takes the version later observed for its value.
 */
export function kvModel(history: readonly Operation<KvInput, KvOutput>[]): Model<KvState, KvInput, KvOutput> {
  const versionOf = new Map<string, string>();
  for (const op of history) {
    const o = op.output;
    if (!o) continue;
    if (o.kind === 'get' && o.value !== null && o.version !== null) versionOf.set(o.value, o.version);
    if (o.kind === 'write' && op.input.kind === 'put' && o.ok && o.version !== undefined) {
      versionOf.set(op.input.value, o.version);
    }
  }
  const holds = (s: KvState, pre: Precondition) =>
    pre.kind === 'none' || (pre.kind === 'absent' ? s.value === null : s.value !== null && s.version === pre.version);
  return {
    init: () => ({ value: null, version: null }),
    hash: (s) => `${s.value}\u0000${s.version}`,
    partition: (h) => {
      const byKey = new Map<string, Operation<KvInput, KvOutput>[]>();
      for (const op of h) {
        const list = byKey.get(op.input.key) ?? [];
        list.push(op);
        byKey.set(op.input.key, list);
      }
      return [...byKey.values()];
    },
    describe: (op) =>
      `c${op.client} [${op.call}, ${op.ret}] ${JSON.stringify(op.input)} -> ${op.output ? JSON.stringify(op.output) : '?'}`,
    step: (s, input, output) => {
      switch (input.kind) {
        case 'get': {
          if (!output) return { ok: true, state: s };
          if (output.kind !== 'get') return { ok: false, state: s };
          const ok = output.value === s.value && (s.value === null || output.version === s.version);
          return { ok, state: s };
        }
        case 'put': {
          const applies = holds(s, input.pre);
          if (output && output.kind === 'write' && output.ok !== applies) return { ok: false, state: s };
          if (!applies) return { ok: true, state: s };
          const version = output?.kind === 'write' && output.version ? output.version : versionOf.get(input.value);
          return { ok: true, state: { value: input.value, version: version ?? `?${input.value}` } };
        }
        case 'delete': {
          const applies = holds(s, input.pre);
          if (output && output.kind === 'write' && output.ok !== applies) return { ok: false, state: s };
          return { ok: true, state: applies ? { value: null, version: null } : s };
        }
      }
    },
  };
}

/** Records a history from concurrent clients with a logical clock. */
export class HistoryRecorder<I, O> {
  private clock = 0;
  private readonly ops: { client: number; input: I; output: O | undefined; call: number; ret: number }[] = [];
  /** Marks the call; returns a function to record the result (or `undefined` for an unknown outcome). */
  begin(client: number, input: I): (output: O | undefined) => void {
    const op = { client, input, output: undefined as O | undefined, call: ++this.clock, ret: Infinity };
    this.ops.push(op);
    let done = false;
    return (output) => {
      if (done) return;
      done = true;
      if (output !== undefined) {
        op.output = output;
        op.ret = ++this.clock;
      }
    };
  }
  history(): Operation<I, O>[] {
    return this.ops.map((o) => ({ ...o }));
  }
  get size(): number {
    return this.ops.length;
  }
}
