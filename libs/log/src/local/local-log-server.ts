import type { ChainStore } from '../bifrost/bifrost.ts';
import { chainKey, encodeChain, type LogChain, logletIdOf, readChain, type SequencerRef } from '../bifrost/chain.ts';
import { maxBig, minBig } from '../replicated/quorum.ts';
import type {
  GetDigestRequest,
  GetDigestResponse,
  GetRecordsRequest,
  GetRecordsResponse,
  LogletState,
  LogServerApi,
  StoredRecord,
  StoreRequest,
  StoreResponse,
  TrimRequest,
  WaitForTailRequest,
} from '../replicated/types.ts';
import type { LocalLoglet, LocalLogStore } from './local-log-store.ts';

/**
 * The logs of a one-process server (a LocalLogStore) as the first, sealed segment of each virtual log, so that the
 * server grows into a cluster without copying anything first: `adoptLocalLog` writes the log's chain with segment
 * 0 = the sealed local log, and a LocalLogServer answers the log-server requests for those loglets, read-only,
 * under a node id of its own. Registered as draining, that node gets no new segment, and the log rebalancer
 * copies its records to real log servers (then no segment names it).
 */

const EMPTY: LogletState = { localTail: 0n, knownGlobalTail: 0n, trimPoint: 0n, sealed: false };

/** The sequencer a segment made of a local log names: none ever takes appends for it (it is sealed). */
export const LOCAL_LOG_SEQUENCER: SequencerRef = { id: 'local-log', instance: 'sealed' };

export class LocalLogServer implements LogServerApi {
  private readonly logs: LocalLogStore;
  private readonly localLogOf: (logletId: string) => number | undefined;

  /** `localLogOf` maps the loglet id of an adopted segment to the id of its local log (undefined: not one). */
  constructor(store: LocalLogStore, localLogOf: (logletId: string) => number | undefined) {
    this.logs = store;
    this.localLogOf = localLogOf;
  }

  /** The local log behind a loglet id; undefined for any other loglet (answered as an empty, unsealed one). */
  private async loglet(logletId: string): Promise<LocalLoglet | undefined> {
    const id = this.localLogOf(logletId);
    return id === undefined ? undefined : this.logs.loglet(id);
  }

  private static async state(l: LocalLoglet): Promise<LogletState> {
    const tail = await l.tail();
    return { localTail: tail, knownGlobalTail: tail, trimPoint: l.trimmedBelow, sealed: true };
  }

  /** Nothing is ever stored here: the adopted loglets are sealed, and no other loglet is placed on this node. */
  async store(req: StoreRequest): Promise<StoreResponse> {
    const l = await this.loglet(req.logletId);
    return { status: 'sealed', localTail: l ? await l.tail() : 0n, sealed: true };
  }

  async getRecords(req: GetRecordsRequest): Promise<GetRecordsResponse> {
    const l = await this.loglet(req.logletId);
    if (!l) return { ...EMPTY, records: [], next: req.to };
    const st = await LocalLogServer.state(l);
    const to = minBig(req.to, st.localTail);
    let at = maxBig(req.from, st.trimPoint);
    const records: StoredRecord[] = [];
    const maxBytes = req.maxBytes ?? 1 << 20;
    let bytes = 0;
    while (at < to && (records.length === 0 || bytes < maxBytes)) {
      const page = await l.read(at, 256);
      if (page.length === 0) break;
      for (const r of page) {
        if (r.offset >= to || (records.length > 0 && bytes >= maxBytes)) break;
        records.push(r);
        bytes += r.payload.length;
        at = r.offset + 1n;
      }
    }
    return { ...st, records, next: at < to ? at : req.to };
  }

  async getDigest(req: GetDigestRequest): Promise<GetDigestResponse> {
    const l = await this.loglet(req.logletId);
    if (!l) return { ...EMPTY, offsets: [] };
    const st = await LocalLogServer.state(l);
    // A local log holds every offset between its trim point and its tail.
    const offsets: bigint[] = [];
    const to = minBig(req.to, st.localTail);
    for (let o = maxBig(req.from, st.trimPoint); o < to; o++) offsets.push(o);
    return { ...st, offsets };
  }

  async waitForTail(req: WaitForTailRequest): Promise<LogletState> {
    const l = await this.loglet(req.logletId);
    // Adopted loglets are sealed (answered at once); other loglets never get anything here.
    if (l) return LocalLogServer.state(l);
    return new Promise(() => {});
  }

  async seal(req: { logletId: string }): Promise<LogletState> {
    const l = await this.loglet(req.logletId);
    return l ? LocalLogServer.state(l) : { ...EMPTY, sealed: true };
  }

  async trim(req: TrimRequest): Promise<LogletState> {
    const l = await this.loglet(req.logletId);
    if (!l) return { ...EMPTY };
    await l.trim(req.upTo);
    return LocalLogServer.state(l);
  }
}

/**
 * Makes the local log `loglet` (sealed here: nothing is appended to it again) the first segment of the virtual
 * log `logId`, on node `node` with one copy, unless the log exists already (an adoption done before a restart).
 * Returns the chain.
 */
export async function adoptLocalLog(
  metadata: ChainStore,
  logId: string,
  loglet: LocalLoglet,
  node: string,
): Promise<LogChain> {
  const sealedTail = await loglet.seal();
  for (;;) {
    const have = await readChain(metadata, logId);
    if (have) return have.chain;
    const chain: LogChain = {
      logId,
      trimPoint: loglet.trimmedBelow,
      segments: [
        {
          index: 0,
          base: 0n,
          logletId: logletIdOf(logId, 0),
          sequencer: LOCAL_LOG_SEQUENCER,
          nodeset: [{ id: node }],
          replication: { scope: 'node', count: 1 },
          sealedTail,
        },
      ],
    };
    try {
      await metadata.put(chainKey(logId), encodeChain(chain), { kind: 'does-not-exist' });
      return chain;
    } catch (e) {
      if ((e as { code?: unknown }).code !== 'precondition-failed') throw e;
    }
  }
}
