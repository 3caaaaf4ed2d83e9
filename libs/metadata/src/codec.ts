import { metadata as pb } from '@stead/proto';
import type { Entry, Member, Message, MessageType, Snapshot } from '@stead/raft';

const TYPES: Record<MessageType, pb.RaftMessageType> = {
  append: pb.RaftMessageType.RAFT_MESSAGE_TYPE_APPEND,
  appendResp: pb.RaftMessageType.RAFT_MESSAGE_TYPE_APPEND_RESP,
  heartbeat: pb.RaftMessageType.RAFT_MESSAGE_TYPE_HEARTBEAT,
  heartbeatResp: pb.RaftMessageType.RAFT_MESSAGE_TYPE_HEARTBEAT_RESP,
  vote: pb.RaftMessageType.RAFT_MESSAGE_TYPE_VOTE,
  voteResp: pb.RaftMessageType.RAFT_MESSAGE_TYPE_VOTE_RESP,
  prevote: pb.RaftMessageType.RAFT_MESSAGE_TYPE_PREVOTE,
  prevoteResp: pb.RaftMessageType.RAFT_MESSAGE_TYPE_PREVOTE_RESP,
  snapshot: pb.RaftMessageType.RAFT_MESSAGE_TYPE_SNAPSHOT,
  timeoutNow: pb.RaftMessageType.RAFT_MESSAGE_TYPE_TIMEOUT_NOW,
};
const NAMES = new Map<number, MessageType>(Object.entries(TYPES).map(([k, v]) => [v, k as MessageType]));

export function entryToPb(e: Entry): pb.RaftEntry {
  return { term: BigInt(e.term), index: BigInt(e.index), conf: e.type === 'conf', data: Buffer.from(e.data) };
}

export function entryFromPb(e: pb.RaftEntry): Entry {
  return {
    term: Number(e.term),
    index: Number(e.index),
    type: e.conf ? 'conf' : 'normal',
    data: new Uint8Array(e.data),
  };
}

/** A member on the wire and on disk; `learner` is false for voters (and in data written before learners). */
export function memberToPb(m: Member): pb.Member {
  return { nodeId: m.id, address: m.addr, learner: m.learner === true };
}

export function memberFromPb(m: pb.Member): Member {
  return m.learner ? { id: m.nodeId, addr: m.address, learner: true } : { id: m.nodeId, addr: m.address };
}

export function snapshotToPb(s: Snapshot): pb.RaftSnapshot {
  return {
    index: BigInt(s.meta.index),
    term: BigInt(s.meta.term),
    members: s.meta.conf.members.map(memberToPb),
    data: Buffer.from(s.data),
  };
}

export function snapshotFromPb(s: pb.RaftSnapshot): Snapshot {
  return {
    meta: {
      index: Number(s.index),
      term: Number(s.term),
      conf: { members: s.members.map(memberFromPb) },
    },
    data: new Uint8Array(s.data),
  };
}

export function messageToPb(m: Message): pb.RaftMessage {
  const out: pb.RaftMessage = {
    type: TYPES[m.type],
    from: m.from,
    to: m.to,
    term: BigInt(m.term),
    prevIndex: 0n,
    prevTerm: 0n,
    entries: [],
    commit: 0n,
    index: 0n,
    reject: false,
    hint: 0n,
    ctx: '',
    lastIndex: 0n,
    lastTerm: 0n,
    force: false,
    snapshot: undefined,
  };
  switch (m.type) {
    case 'append':
      out.prevIndex = BigInt(m.prevIndex);
      out.prevTerm = BigInt(m.prevTerm);
      out.entries = m.entries.map(entryToPb);
      out.commit = BigInt(m.commit);
      break;
    case 'appendResp':
      out.index = BigInt(m.index);
      out.reject = m.reject;
      out.hint = BigInt(m.hint);
      break;
    case 'heartbeat':
      out.commit = BigInt(m.commit);
      out.ctx = m.ctx;
      break;
    case 'heartbeatResp':
      out.ctx = m.ctx;
      break;
    case 'vote':
    case 'prevote':
      out.lastIndex = BigInt(m.lastIndex);
      out.lastTerm = BigInt(m.lastTerm);
      out.force = m.force;
      break;
    case 'voteResp':
    case 'prevoteResp':
      out.reject = m.reject;
      break;
    case 'snapshot':
      out.snapshot = snapshotToPb(m.snapshot);
      break;
    case 'timeoutNow':
      break;
  }
  return out;
}

/** Decodes a message; throws on malformed input. */
export function messageFromPb(p: pb.RaftMessage): Message {
  const type = NAMES.get(p.type);
  if (!type) throw new Error(`unknown raft message type ${p.type}`);
  const base = { from: p.from, to: p.to, term: Number(p.term) };
  switch (type) {
    case 'append':
      return {
        ...base,
        type,
        prevIndex: Number(p.prevIndex),
        prevTerm: Number(p.prevTerm),
        entries: p.entries.map(entryFromPb),
        commit: Number(p.commit),
      };
    case 'appendResp':
      return { ...base, type, index: Number(p.index), reject: p.reject, hint: Number(p.hint) };
    case 'heartbeat':
      return { ...base, type, commit: Number(p.commit), ctx: p.ctx };
    case 'heartbeatResp':
      return { ...base, type, ctx: p.ctx };
    case 'vote':
    case 'prevote':
      return { ...base, type, lastIndex: Number(p.lastIndex), lastTerm: Number(p.lastTerm), force: p.force };
    case 'voteResp':
    case 'prevoteResp':
      return { ...base, type, reject: p.reject };
    case 'snapshot':
      if (!p.snapshot) throw new Error('snapshot message without snapshot');
      return { ...base, type, snapshot: snapshotFromPb(p.snapshot) };
    case 'timeoutNow':
      return { ...base, type };
  }
}
