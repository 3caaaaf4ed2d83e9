import type { LogletParams, NodesetMember, ReplicationProperty } from '../replicated/types.ts';

/** The process instance that sequences a segment. A restarted sequencer is a new instance and owns nothing. */
export interface SequencerRef {
  id: string;
  instance: string;
}

/** One segment of a virtual log: a replicated loglet covering virtual offsets [base, base + sealedTail). */
export interface Segment {
  /** 0, 1, 2, … in chain order (never reused, also after trimming). */
  index: number;
  /** Virtual offset of the loglet's offset 0. */
  base: bigint;
  logletId: string;
  sequencer: SequencerRef;
  nodeset: NodesetMember[];
  replication: ReplicationProperty;
  /** Set once sealed: the loglet-local tail; the next segment starts at base + sealedTail. */
  sealedTail?: bigint;
}

/** A virtual log: its segments in order (the last one open for appends), as kept in the metadata store. */
export interface LogChain {
  logId: string;
  segments: Segment[];
  /** Virtual offsets below this are trimmed. */
  trimPoint: bigint;
  /** Set by Bifrost.seal: the last segment is sealed and the log takes no more appends (no new segment). */
  sealed?: boolean;
}

export function chainKey(logId: string): string {
  return `logs/${logId}`;
}

export function logletIdOf(logId: string, index: number): string {
  return `${logId}.${index}`;
}

/**
 * The node that sequences loglet `logletId` (`<logId>.<index>`), as its segment in the chain of its log says;
 * undefined when no segment of that log names the loglet.
 */
export async function sequencerOfLoglet(
  store: { get(key: string): Promise<{ value: Uint8Array; version: number } | undefined> },
  logletId: string,
): Promise<string | undefined> {
  const dot = logletId.lastIndexOf('.');
  if (dot <= 0) return undefined;
  const found = await readChain(store, logletId.slice(0, dot));
  return found?.chain.segments.find((s) => s.logletId === logletId)?.sequencer.id;
}

export function paramsOf(s: Segment): LogletParams {
  return { logletId: s.logletId, nodeset: s.nodeset, replication: s.replication };
}

/** Virtual offset range [base, end) of a segment; end is undefined for the open segment. */
export function segmentEnd(s: Segment): bigint | undefined {
  return s.sealedTail === undefined ? undefined : s.base + s.sealedTail;
}

export function encodeChain(c: LogChain): Uint8Array {
  const plain = {
    logId: c.logId,
    trimPoint: c.trimPoint.toString(),
    ...(c.sealed ? { sealed: true } : {}),
    segments: c.segments.map((s) => ({
      ...s,
      base: s.base.toString(),
      sealedTail: s.sealedTail === undefined ? undefined : s.sealedTail.toString(),
    })),
  };
  return new TextEncoder().encode(JSON.stringify(plain));
}

export function decodeChain(bytes: Uint8Array): LogChain {
  const plain = JSON.parse(new TextDecoder().decode(bytes)) as {
    logId: string;
    trimPoint: string;
    sealed?: boolean;
    segments: Array<Omit<Segment, 'base' | 'sealedTail'> & { base: string; sealedTail?: string }>;
  };
  return {
    logId: plain.logId,
    trimPoint: BigInt(plain.trimPoint),
    ...(plain.sealed === true ? { sealed: true } : {}),
    segments: plain.segments.map((s) => ({
      ...s,
      base: BigInt(s.base),
      sealedTail: s.sealedTail === undefined ? undefined : BigInt(s.sealedTail),
    })),
  };
}

/** The chain of `logId` as the metadata store holds it, with its version; undefined when there is no such log. */
export async function readChain(
  store: { get(key: string): Promise<{ value: Uint8Array; version: number } | undefined> },
  logId: string,
): Promise<{ chain: LogChain; version: number } | undefined> {
  const v = await store.get(chainKey(logId));
  return v && { chain: decodeChain(v.value), version: v.version };
}
