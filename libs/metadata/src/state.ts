import { metadata as pb } from '@stead/proto';

/** A value and its version: the Raft index of the write that stored it (unique, increasing per key). */
export interface VersionedValue {
  readonly value: Uint8Array;
  readonly version: number;
}

export type Precondition =
  | { readonly kind: 'none' }
  | { readonly kind: 'does-not-exist' }
  | { readonly kind: 'matches-version'; readonly version: number };

export const Precondition = {
  none: { kind: 'none' } as Precondition,
  doesNotExist: { kind: 'does-not-exist' } as Precondition,
  matchesVersion: (version: number): Precondition => ({ kind: 'matches-version', version }),
} as const;

export interface ChangeEvent {
  readonly key: string;
  readonly deleted: boolean;
  readonly value: Uint8Array;
  /** Version of the new value, or the index of the deletion. */
  readonly version: number;
}

export const RESULT_OK = 0;
export const RESULT_PRECONDITION_FAILED = 1;
export const RESULT_STALE_REQUEST = 2;

export interface ApplyResult {
  readonly result: pb.StoredResult;
  readonly change?: ChangeEvent;
}

interface Session {
  ackedBelow: number;
  lastIndex: number;
  results: Map<number, pb.StoredResult>;
}

const MAX_SESSIONS = 10_000;
const MAX_RESULTS_PER_SESSION = 1_000;

export function toPbPrecondition(p: Precondition | undefined): pb.Precondition {
  if (!p || p.kind === 'none') return { kind: { $case: 'none', value: {} } };
  if (p.kind === 'does-not-exist') return { kind: { $case: 'doesNotExist', value: {} } };
  return { kind: { $case: 'matchesVersion', value: BigInt(p.version) } };
}

export function fromPbPrecondition(p: pb.Precondition | undefined): Precondition {
  const k = p?.kind;
  if (!k || k.$case === 'none') return Precondition.none;
  if (k.$case === 'doesNotExist') return Precondition.doesNotExist;
  return Precondition.matchesVersion(Number(k.value));
}

/**
 * The replicated key-value state machine: deterministic, applied in log order on every member. Writes carry
 * optional request ids; a request id seen before returns its first result (client sessions, Raft thesis §6.3).
 */
export class KvStateMachine {
  readonly values = new Map<string, VersionedValue>();
  private readonly sessions = new Map<string, Session>();
  applied = 0;
  /** Random id given by the first leader ('' until applied). */
  clusterId = '';

  get(key: string): VersionedValue | undefined {
    return this.values.get(key);
  }

  get size(): number {
    return this.values.size;
  }

  apply(index: number, cmd: pb.Command): ApplyResult {
    this.applied = index;
    const rid = cmd.requestId;
    let session: Session | undefined;
    if (rid && rid.clientId !== '') {
      const seq = Number(rid.seq);
      session = this.sessions.get(rid.clientId);
      if (!session) {
        session = { ackedBelow: 0, lastIndex: index, results: new Map() };
        this.sessions.set(rid.clientId, session);
        if (this.sessions.size > MAX_SESSIONS) this.evictSession();
      }
      session.lastIndex = index;
      const acked = Number(rid.ackedBelow);
      if (acked > session.ackedBelow) {
        session.ackedBelow = acked;
        for (const s of session.results.keys()) if (s < acked) session.results.delete(s);
      }
      if (seq < session.ackedBelow) {
        return {
          result: { seq: rid.seq, code: RESULT_STALE_REQUEST, version: 0n, existed: false, currentVersion: 0n },
        };
      }
      const seen = session.results.get(seq);
      if (seen) return { result: seen };
    }
    const out = this.execute(index, cmd);
    if (session && rid) {
      const stored = { ...out.result, seq: rid.seq };
      session.results.set(Number(rid.seq), stored);
      if (session.results.size > MAX_RESULTS_PER_SESSION) {
        session.results.delete(Math.min(...session.results.keys()));
      }
      return { result: stored, change: out.change };
    }
    return out;
  }

  private evictSession(): void {
    let oldest: string | undefined;
    let at = Infinity;
    for (const [id, s] of this.sessions) {
      if (s.lastIndex < at) {
        at = s.lastIndex;
        oldest = id;
      }
    }
    if (oldest !== undefined) this.sessions.delete(oldest);
  }

  private holds(key: string, pre: Precondition): boolean {
    const cur = this.values.get(key);
    if (pre.kind === 'none') return true;
    if (pre.kind === 'does-not-exist') return cur === undefined;
    return cur !== undefined && cur.version === pre.version;
  }

  private execute(index: number, cmd: pb.Command): ApplyResult {
    const op = cmd.op;
    const fail = (key: string): ApplyResult => ({
      result: {
        seq: 0n,
        code: RESULT_PRECONDITION_FAILED,
        version: 0n,
        existed: this.values.has(key),
        currentVersion: BigInt(this.values.get(key)?.version ?? 0),
      },
    });
    const ok = { result: { seq: 0n, code: RESULT_OK, version: 0n, existed: false, currentVersion: 0n } };
    if (!op) return ok;
    if (op.$case === 'init') {
      if (this.clusterId === '' && op.value.clusterId !== '') this.clusterId = op.value.clusterId;
      return ok;
    }
    if (op.$case === 'put') {
      const { key, value } = op.value;
      if (!this.holds(key, fromPbPrecondition(op.value.precondition))) return fail(key);
      const existed = this.values.has(key);
      const v = new Uint8Array(value);
      this.values.set(key, { value: v, version: index });
      return {
        result: { seq: 0n, code: RESULT_OK, version: BigInt(index), existed, currentVersion: BigInt(index) },
        change: { key, deleted: false, value: v, version: index },
      };
    }
    const { key } = op.value;
    if (!this.holds(key, fromPbPrecondition(op.value.precondition))) return fail(key);
    const existed = this.values.delete(key);
    return {
      result: { seq: 0n, code: RESULT_OK, version: BigInt(index), existed, currentVersion: 0n },
      change: existed ? { key, deleted: true, value: new Uint8Array(0), version: index } : undefined,
    };
  }

  image(): Uint8Array {
    const keys = [...this.values.keys()].sort();
    const img: pb.StateImage = {
      appliedIndex: BigInt(this.applied),
      clusterId: this.clusterId,
      values: keys.map((key) => {
        const v = this.values.get(key)!;
        return { key, value: Buffer.from(v.value), version: BigInt(v.version) };
      }),
      sessions: [...this.sessions].map(([clientId, s]) => ({
        clientId,
        ackedBelow: BigInt(s.ackedBelow),
        lastIndex: BigInt(s.lastIndex),
        results: [...s.results.values()],
      })),
    };
    return pb.StateImage.encode(img).finish();
  }

  static fromImage(data: Uint8Array): KvStateMachine {
    const sm = new KvStateMachine();
    if (data.length === 0) return sm;
    const img = pb.StateImage.decode(data);
    sm.applied = Number(img.appliedIndex);
    sm.clusterId = img.clusterId;
    for (const v of img.values) sm.values.set(v.key, { value: new Uint8Array(v.value), version: Number(v.version) });
    for (const s of img.sessions) {
      sm.sessions.set(s.clientId, {
        ackedBelow: Number(s.ackedBelow),
        lastIndex: Number(s.lastIndex),
        results: new Map(s.results.map((r) => [Number(r.seq), r])),
      });
    }
    return sm;
  }
}
