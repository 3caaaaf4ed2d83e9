/**
 * The layout of a partition store: every table's key encoding and value codec, in one place.
 *
 * Keys are byte strings (see @stead/storage): a one-byte table tag, then components. A string component is
 * its UTF-8 bytes with 0x00 escaped as 00 FF and terminated by 00 01, so that the encoding is injective and
 * prefix-free: no key's components can be read as another key's (object "k" and object "k\0x" have disjoint
 * state ranges), and "" is a key like any other. Numbers are fixed-width big-endian, so that key order is
 * numeric order. Values are protobuf messages of proto/stead/partition/v1.
 *
 *   i <id>                         invocation status          InvocationStatus
 *   J <u64 createdAt> <id> <u32 i> journal entry              JournalEntry
 *   s <service> <key> <bytes>      state (raw value)          bytes
 *   l <service> <key>              exclusive lock holder      InvocationRef
 *   q <service> <key> <u64 seq>    inbox                      InvocationRef
 *   r <service> <key> <u64 seq>    state replacements queued behind the lock (seq shared with the inbox)
 *                                                              QueuedStateReplacement
 *   t <u64 wakeAt> <id> <u32 c>    timers                     TimerKey
 *   p <service> <key> <name>       workflow promises          PromiseRow
 *   o <u64 seq>                    outbox                     OutboxEntry
 *   D <producer>                   dedup: highest seq applied from each producer   Counter
 *   x <deployment> <id>            unfinished invocations pinned to a deployment (empty value)
 *   S <schedule id>                cron schedules             ScheduleRow
 *   m <name>                       epoch, applied offset, counters, layout version   Counter
 *
 * Journal keys start with the invocation's creation time, so that the journal (the biggest table: every entry
 * of every invocation, kept for the journal retention) is written in key order; `openPartitionStorage` keeps
 * it in the database shared by all partitions for such tables, away from the random keys of the others.
 * LevelDB then moves its new files down the levels without rewriting older ones, and compaction work stays
 * proportional to what is written rather than to everything retained. (Layout 1 keyed entries
 * `j <id> <u32 index>`: random order, in the partition's own database. Layouts 1 and 2 keyed dedup sequence
 * numbers by the producing partition, `d <u32 partition>`; layout 3 names producers, see Dedup.)
 */
import { type Codec, CorruptValueError, type PartitionStore, StorageEngine, type StorageOptions } from '@stead/storage';
import { assert } from './assert.ts';
import * as C from './codec.ts';
import {
  type Command,
  type InvocationStatus,
  type JournalEntry,
  outboxProducer,
  type ScheduleRecord,
  type Target,
  type TimerKey,
} from './types.ts';

// ---------- key components ----------

const TERMINATOR = '\u0000\u0001';

/** A string component: UTF-8, 0x00 escaped as 00 FF, terminated by 00 01. */
export function strKey(s: string): string {
  // A lone surrogate has no UTF-8 form (it would become U+FFFD and collide with other strings).
  if (!s.isWellFormed()) throw new Error(`key ${JSON.stringify(s)} is not well-formed Unicode (lone surrogate)`);
  return Buffer.from(s, 'utf8').toString('latin1').replaceAll('\u0000', '\u0000\u00ff') + TERMINATOR;
}

export function u32Key(n: number): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b.toString('latin1');
}

export function u64Key(n: number | bigint): string {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b.toString('latin1');
}

/** Reads the string component that starts at `at`; returns it and where the next component starts. */
export function readStrKey(key: string, at: number): { value: string; next: number } {
  let raw = '';
  for (let i = at; i < key.length - 1; i++) {
    if (key.charCodeAt(i) !== 0) {
      raw += key[i];
      continue;
    }
    const esc = key.charCodeAt(i + 1);
    if (esc === 0x01) return { value: Buffer.from(raw, 'latin1').toString('utf8'), next: i + 2 };
    if (esc !== 0xff) break;
    raw += '\u0000';
    i++;
  }
  throw new Error(`key has no terminated string component at byte ${at}`);
}

function readU64(key: string, at: number): bigint {
  return Buffer.from(key.slice(at, at + 8), 'latin1').readBigUInt64BE(0);
}

/** Service and key of a keyed target: the identity of a virtual object or workflow instance. */
function objectKey(t: Target): string {
  if (t.key === undefined) throw new Error(`target ${t.service}/${t.handler} has no key`);
  return strKey(t.service) + strKey(t.key);
}

const Tag = {
  Status: 'i',
  Journal: 'J',
  /** Layout 1 journal keys (`j <id> <u32 index>`), rewritten at start by `upgradeLayout`. */
  JournalV1: 'j',
  State: 's',
  Lock: 'l',
  Inbox: 'q',
  QueuedReplacement: 'r',
  Timer: 't',
  Promise: 'p',
  Outbox: 'o',
  Dedup: 'D',
  /** Layout 1 and 2 dedup keys (`d <u32 partition>`), rewritten at start by `upgradeLayout`. */
  DedupV2: 'd',
  Deployment: 'x',
  Schedule: 'S',
  Meta: 'm',
} as const;

const META_EPOCH = `${Tag.Meta}epoch`;
const META_APPLIED = `${Tag.Meta}applied`;
const META_INBOX_SEQ = `${Tag.Meta}inboxSeq`;
const META_OUTBOX_SEQ = `${Tag.Meta}outboxSeq`;
const META_OUTBOX_TRUNCATED = `${Tag.Meta}outboxTruncated`;
const META_LAYOUT = `${Tag.Meta}layout`;

/** The key layout this code writes (see the header). Stores of older layouts are upgraded when they open. */
export const STORE_LAYOUT = 3;

const EMPTY = new Uint8Array(0);

/**
 * The key of a timer in the time index: wake time first, so that key order (bytewise, which is `<` on byte
 * strings) is wake-time order; ties by invocation id and completion id.
 */
export function timerKey(t: TimerKey): string {
  return Tag.Timer + u64Key(t.wakeAt) + strKey(t.invocationId) + u32Key(t.completionId);
}

export interface OutboxEntry {
  seq: number;
  partitionKey: bigint;
  command: Command;
}

/**
 * Opens the partition stores in `dir` with this layout: the journal is a time-ordered table (its keys start
 * with the 8-byte creation time), kept in the shared time-ordered database (see @stead/storage).
 */
export function openPartitionStorage(
  dir: string,
  opts: Omit<StorageOptions, 'orderedTables'> = {},
): Promise<StorageEngine> {
  return StorageEngine.open(dir, { ...opts, orderedTables: [{ tag: Tag.Journal, orderBytes: 8 }] });
}

/** What keys an invocation's journal: its id and creation time (both fixed for its life). */
export type JournalOwner = Pick<InvocationStatus, 'id' | 'createdAt'>;

/** One page of a table in key order, and the cursor of the next page (`after`; undefined after the last). */
export interface Page<T> {
  rows: T[];
  next: string | undefined;
}

/** The object (virtual object or workflow instance) a row of the state, lock, inbox or promise table belongs to. */
export interface ObjectRef {
  service: string;
  key: string;
}

/** A state entry as stored: its object, the SDK's key bytes and value bytes. */
export interface StateEntry extends ObjectRef {
  stateKey: Uint8Array;
  value: Uint8Array;
}

/** Reads the object (service, key) that a state/lock/inbox/promise key starts with (after its tag). */
function readObjectKey(key: string): ObjectRef & { next: number } {
  const service = readStrKey(key, 1);
  const objKey = readStrKey(key, service.next);
  return { service: service.value, key: objKey.value, next: objKey.next };
}

/** Typed access to the tables of one partition store. */
export class PartitionTables {
  readonly store: PartitionStore;
  constructor(store: PartitionStore) {
    this.store = store;
  }

  private async counter(key: string): Promise<bigint | undefined> {
    return this.store.get(key, C.counter);
  }

  // ---------- invocation status ----------

  status(id: string): Promise<InvocationStatus | undefined> {
    return this.store.get(Tag.Status + strKey(id), C.invocationStatus);
  }
  putStatus(st: InvocationStatus): void {
    this.store.put(Tag.Status + strKey(st.id), st, C.invocationStatus);
  }
  delStatus(id: string): void {
    this.store.del(Tag.Status + strKey(id));
  }
  async allStatuses(): Promise<InvocationStatus[]> {
    return (await this.store.scan(Tag.Status)).map(([k, v]) => decodeAt(k, v, C.invocationStatus));
  }

  // ---------- pages of whole tables (admin introspection) ----------

  /** At most `limit` rows of the table under `prefix` after the cursor `after`, each read by `read`. */
  private async page<T>(
    prefix: string,
    after: string | undefined,
    limit: number,
    read: (key: string, value: Uint8Array) => T,
    asciiKeys = false,
  ): Promise<Page<T>> {
    const raw = await this.store.scan(prefix, limit, after === undefined ? { asciiKeys } : { after, asciiKeys });
    return { rows: raw.map(([k, v]) => read(k, v)), next: raw.length < limit ? undefined : raw.at(-1)?.[0] };
  }

  /** Invocation statuses, in id order. */
  statusPage(after: string | undefined, limit: number): Promise<Page<InvocationStatus>> {
    // Status keys are invocation ids: ASCII.
    return this.page(Tag.Status, after, limit, (k, v) => decodeAt(k, v, C.invocationStatus), true);
  }

  /**
   * Invocation statuses in id order, with only the fields of `mask` (C.statusFieldMask) decoded: the others are
   * absent whatever the type says (see C.decodeStatusFields).
   */
  statusFieldsPage(after: string | undefined, limit: number, mask: number): Promise<Page<InvocationStatus>> {
    const codec = { decode: (v: Uint8Array) => C.decodeStatusFields(v, mask) };
    return this.page(Tag.Status, after, limit, (k, v) => decodeAt(k, v, codec), true);
  }

  /** State entries, by object and key. */
  statePage(after: string | undefined, limit: number): Promise<Page<StateEntry>> {
    return this.page(Tag.State, after, limit, (k, v) => {
      const o = readObjectKey(k);
      return {
        service: o.service,
        key: o.key,
        stateKey: new Uint8Array(Buffer.from(k.slice(o.next), 'latin1')),
        value: v,
      };
    });
  }

  /** Lock holders, by object. */
  lockPage(after: string | undefined, limit: number): Promise<Page<ObjectRef & { invocationId: string }>> {
    return this.page(Tag.Lock, after, limit, (k, v) => {
      const o = readObjectKey(k);
      return { service: o.service, key: o.key, invocationId: decodeAt(k, v, C.invocationRef).invocationId };
    });
  }

  /** Queued invocations, by object and then queue order. */
  inboxPage(
    after: string | undefined,
    limit: number,
  ): Promise<Page<ObjectRef & { seq: number; invocationId: string }>> {
    return this.page(Tag.Inbox, after, limit, (k, v) => {
      const o = readObjectKey(k);
      const seq = Number(readU64(k, o.next));
      return { service: o.service, key: o.key, seq, invocationId: decodeAt(k, v, C.invocationRef).invocationId };
    });
  }

  /** Workflow promises, by workflow instance and name. */
  promisePage(
    after: string | undefined,
    limit: number,
  ): Promise<Page<ObjectRef & { name: string; row: C.PromiseRow }>> {
    return this.page(Tag.Promise, after, limit, (k, v) => {
      const o = readObjectKey(k);
      const name = readStrKey(k, o.next).value;
      return { service: o.service, key: o.key, name, row: decodeAt(k, v, C.promiseRow) };
    });
  }

  /** Cron schedules, by id. */
  schedulePage(after: string | undefined, limit: number): Promise<Page<ScheduleRecord>> {
    return this.page(Tag.Schedule, after, limit, (k, v) => decodeAt(k, v, C.scheduleRow));
  }

  // ---------- journal ----------

  // Entries are keyed by the invocation's creation time, id and index; every caller has the status at hand.
  private journalKey(st: JournalOwner, index: number): string {
    return Tag.Journal + u64Key(st.createdAt) + strKey(st.id) + u32Key(index);
  }
  journalEntry(st: JournalOwner, index: number): Promise<JournalEntry | undefined> {
    return this.store.get(this.journalKey(st, index), C.journalEntry);
  }
  putJournalEntry(st: JournalOwner, index: number, entry: JournalEntry): void {
    this.store.put(this.journalKey(st, index), entry, C.journalEntry);
  }
  delJournalEntry(st: JournalOwner, index: number): void {
    this.store.del(this.journalKey(st, index));
  }
  /**
   * The journal of `st`: entries 0 … journalLength-1, read by key at once (faster than a range read, and served
   * by the read cache). A missing entry breaks the journal's invariant: InvariantError.
   */
  async journalEntries(st: JournalOwner & Pick<InvocationStatus, 'journalLength'>): Promise<JournalEntry[]> {
    const entries = await Promise.all(Array.from({ length: st.journalLength }, (_, i) => this.journalEntry(st, i)));
    return entries.map((e, i) => {
      assert(e !== undefined, `journal entry ${i} of ${st.id} is missing (journal length ${st.journalLength})`);
      return e;
    });
  }

  // ---------- layout ----------

  /**
   * Brings a store written by an older layout to `STORE_LAYOUT` (before anything else reads it) and commits.
   * An empty store just records the layout. A store of a newer layout than this code knows is refused.
   */
  async upgradeLayout(): Promise<void> {
    const layout = await this.counter(META_LAYOUT);
    if (layout !== undefined && Number(layout) > STORE_LAYOUT) {
      throw new Error(
        `partition ${this.store.partitionId}: the store has key layout ${layout}, newer than this version knows (${STORE_LAYOUT}); run a newer Stead`,
      );
    }
    if (layout === undefined) await this.moveV1Journal();
    if (layout === undefined || Number(layout) < 3) await this.nameDedupProducers();
    if (layout === undefined || Number(layout) < STORE_LAYOUT) {
      this.store.put(META_LAYOUT, BigInt(STORE_LAYOUT), C.counter);
      await this.store.commit();
    }
  }

  /** Layout 1 → 2: journal entries move to time-ordered keys, a page at a time (entries without a status go). */
  private async moveV1Journal(): Promise<void> {
    for (;;) {
      const page = await this.store.scan(Tag.JournalV1, 1000);
      if (page.length === 0) return;
      for (const [key, value] of page) {
        const { value: id, next } = readStrKey(key, 1);
        const index = Buffer.from(key.slice(next, next + 4), 'latin1').readUInt32BE(0);
        const st = await this.status(id);
        if (st) this.store.putRaw(this.journalKey(st, index), value);
        this.store.del(key);
      }
      await this.store.commit();
    }
  }

  /** Layout 2 → 3: dedup rows keyed by the producing partition move to its producer name (`outbox/<n>`). */
  private async nameDedupProducers(): Promise<void> {
    for (const [key, value] of await this.store.scan(Tag.DedupV2)) {
      const partition = Buffer.from(key.slice(1, 5), 'latin1').readUInt32BE(0);
      this.store.putRaw(Tag.Dedup + strKey(outboxProducer(partition)), value);
      this.store.del(key);
    }
  }

  // ---------- state (values are the SDK's bytes, stored as is) ----------

  private statePrefix(t: Target): string {
    return Tag.State + objectKey(t);
  }
  stateValue(t: Target, key: Uint8Array): Promise<Uint8Array | undefined> {
    return this.store.getRaw(this.statePrefix(t) + Buffer.from(key).toString('latin1'));
  }
  putState(t: Target, key: Uint8Array, value: Uint8Array): void {
    this.store.putRaw(this.statePrefix(t) + Buffer.from(key).toString('latin1'), value);
  }
  delState(t: Target, key: Uint8Array): void {
    this.store.del(this.statePrefix(t) + Buffer.from(key).toString('latin1'));
  }
  clearState(t: Target): Promise<void> {
    return this.store.delPrefix(this.statePrefix(t));
  }
  /** Every state entry of the object/workflow `t`, in key order. */
  async state(t: Target): Promise<[Uint8Array, Uint8Array][]> {
    const prefix = this.statePrefix(t);
    return (await this.store.scan(prefix)).map(([k, v]) => [
      new Uint8Array(Buffer.from(k.slice(prefix.length), 'latin1')),
      v,
    ]);
  }

  // ---------- locks and inboxes (single writer per object key) ----------

  async lockHolder(t: Target): Promise<string | undefined> {
    return (await this.store.get(Tag.Lock + objectKey(t), C.invocationRef))?.invocationId;
  }
  putLock(t: Target, invocationId: string): void {
    this.store.put(Tag.Lock + objectKey(t), { invocationId }, C.invocationRef);
  }
  delLock(t: Target): void {
    this.store.del(Tag.Lock + objectKey(t));
  }
  async nextInboxSeq(): Promise<number> {
    const seq = Number((await this.counter(META_INBOX_SEQ)) ?? 0n) + 1;
    this.store.put(META_INBOX_SEQ, BigInt(seq), C.counter);
    return seq;
  }
  putInbox(t: Target, seq: number, invocationId: string): void {
    this.store.put(Tag.Inbox + objectKey(t) + u64Key(seq), { invocationId }, C.invocationRef);
  }
  delInbox(t: Target, seq: number): void {
    this.store.del(Tag.Inbox + objectKey(t) + u64Key(seq));
  }
  /** The first queued invocation of `t`'s key. */
  async firstInInbox(t: Target): Promise<{ seq: number; invocationId: string } | undefined> {
    const prefix = Tag.Inbox + objectKey(t);
    const [first] = await this.store.scan(prefix, 1);
    if (!first) return undefined;
    const seq = Number(readU64(first[0], prefix.length));
    return { seq, invocationId: decodeAt(first[0], first[1], C.invocationRef).invocationId };
  }
  /** Queues a state replacement behind `t`'s lock, in the key's inbox order (`seq` from nextInboxSeq). */
  putQueuedReplacement(t: Target, seq: number, r: C.QueuedReplacement): void {
    this.store.put(Tag.QueuedReplacement + objectKey(t) + u64Key(seq), r, C.queuedReplacement);
  }
  delQueuedReplacement(t: Target, seq: number): void {
    this.store.del(Tag.QueuedReplacement + objectKey(t) + u64Key(seq));
  }
  /** The first state replacement queued behind `t`'s lock. */
  async firstQueuedReplacement(t: Target): Promise<{ seq: number; replacement: C.QueuedReplacement } | undefined> {
    const prefix = Tag.QueuedReplacement + objectKey(t);
    const [first] = await this.store.scan(prefix, 1);
    if (!first) return undefined;
    const seq = Number(readU64(first[0], prefix.length));
    return { seq, replacement: decodeAt(first[0], first[1], C.queuedReplacement) };
  }
  /** Every queued invocation of `t`'s key, in order. */
  async inbox(t: Target): Promise<string[]> {
    return (await this.store.scan(Tag.Inbox + objectKey(t))).map(
      ([k, v]) => decodeAt(k, v, C.invocationRef).invocationId,
    );
  }

  // ---------- timers ----------

  async hasTimer(t: TimerKey): Promise<boolean> {
    return (await this.store.getRaw(timerKey(t))) !== undefined;
  }
  putTimer(t: TimerKey): void {
    this.store.put(timerKey(t), t, C.timerKey);
  }
  delTimer(t: TimerKey): void {
    this.store.del(timerKey(t));
  }
  /**
   * At most `limit` timers in wake-time order (key order), with keys greater than `after` (all from the
   * first when undefined): one page of the time index.
   */
  async timersAfter(after: string | undefined, limit: number): Promise<{ key: string; timer: TimerKey }[]> {
    const rows = await this.store.scan(Tag.Timer, limit, after === undefined ? {} : { after });
    return rows.map(([key, v]) => ({ key, timer: decodeAt(key, v, C.timerKey) }));
  }

  // ---------- cron schedules ----------

  schedule(id: string): Promise<ScheduleRecord | undefined> {
    return this.store.get(Tag.Schedule + strKey(id), C.scheduleRow);
  }
  putSchedule(s: ScheduleRecord): void {
    this.store.put(Tag.Schedule + strKey(s.definition.id), s, C.scheduleRow);
  }
  delSchedule(id: string): void {
    this.store.del(Tag.Schedule + strKey(id));
  }

  // ---------- workflow promises ----------

  private promiseKey(t: Target, name: string): string {
    return Tag.Promise + objectKey(t) + strKey(name);
  }
  promise(t: Target, name: string): Promise<C.PromiseRow | undefined> {
    return this.store.get(this.promiseKey(t, name), C.promiseRow);
  }
  putPromise(t: Target, name: string, row: C.PromiseRow): void {
    this.store.put(this.promiseKey(t, name), row, C.promiseRow);
  }
  clearPromises(t: Target): Promise<void> {
    return this.store.delPrefix(Tag.Promise + objectKey(t));
  }

  // ---------- outbox ----------

  async nextOutboxSeq(): Promise<number> {
    const seq = Number((await this.counter(META_OUTBOX_SEQ)) ?? 0n) + 1;
    this.store.put(META_OUTBOX_SEQ, BigInt(seq), C.counter);
    return seq;
  }
  putOutbox(e: OutboxEntry): void {
    this.store.put(Tag.Outbox + u64Key(e.seq), e, C.outboxEntry);
  }
  /** Deletes the outbox entries up to `upTo` (delivered), by key: no scan. */
  async truncateOutbox(upTo: number): Promise<void> {
    const from = Number((await this.counter(META_OUTBOX_TRUNCATED)) ?? 0n) + 1;
    const last = Math.min(upTo, Number((await this.counter(META_OUTBOX_SEQ)) ?? 0n));
    if (last < from) return;
    for (let seq = from; seq <= last; seq++) this.store.del(Tag.Outbox + u64Key(seq));
    this.store.put(META_OUTBOX_TRUNCATED, BigInt(last), C.counter);
  }
  async outbox(): Promise<OutboxEntry[]> {
    return (await this.store.scan(Tag.Outbox)).map(([k, v]) => {
      const e = decodeAt(k, v, C.outboxEntry);
      return { ...e, seq: Number(readU64(k, 1)) };
    });
  }

  // ---------- dedup, epoch, applied offset ----------

  /** The highest sequence number applied from `producer` (0 before any). */
  async dedupSeq(producer: string): Promise<number> {
    return Number((await this.counter(Tag.Dedup + strKey(producer))) ?? 0n);
  }
  putDedupSeq(producer: string, seq: number): void {
    this.store.put(Tag.Dedup + strKey(producer), BigInt(seq), C.counter);
  }
  async epoch(): Promise<number> {
    return Number((await this.counter(META_EPOCH)) ?? 0n);
  }
  putEpoch(epoch: number): void {
    this.store.put(META_EPOCH, BigInt(epoch), C.counter);
  }
  appliedOffset(): Promise<bigint | undefined> {
    return this.counter(META_APPLIED);
  }
  putAppliedOffset(offset: bigint): void {
    assert(offset >= 0n, `applied offset ${offset} is negative`);
    this.store.put(META_APPLIED, offset, C.counter);
  }

  // ---------- deployment index ----------

  private deploymentPrefix(deploymentId: string): string {
    return Tag.Deployment + strKey(deploymentId);
  }
  /** Records that the unfinished invocation `id` is pinned to `deploymentId`. */
  putPinned(deploymentId: string, id: string): void {
    this.store.putRaw(this.deploymentPrefix(deploymentId) + strKey(id), EMPTY);
  }
  delPinned(deploymentId: string, id: string): void {
    this.store.del(this.deploymentPrefix(deploymentId) + strKey(id));
  }
  async pinnedCount(deploymentId: string): Promise<number> {
    return (await this.store.scan(this.deploymentPrefix(deploymentId))).length;
  }
}

function decodeAt<T>(key: string, raw: Uint8Array, codec: Pick<Codec<T>, 'decode'>): T {
  try {
    return codec.decode(raw);
  } catch (err) {
    throw new CorruptValueError(key, err);
  }
}
