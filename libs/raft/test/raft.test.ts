import { describe, expect, it } from '@jest/globals';
import { Raft } from '../src/raft.ts';
import { bytes, TestCluster } from './harness.ts';

describe('raft', () => {
  it('a single member elects itself and commits proposals', () => {
    const c = new TestCluster(['1']);
    const l = c.elect();
    expect(l.id).toBe('1');
    const r = l.propose([bytes('a'), bytes('b')]);
    expect(r.ok).toBe(true);
    c.settle();
    expect(c.appliedData('1')).toEqual(['a', 'b']);
  });

  it('the bootstrap membership is the committed first entry', () => {
    const c = new TestCluster(['1', '2', '3']);
    const r = c.get('1');
    expect(r.lastIndex()).toBe(1);
    expect(r.conf().members.map((m) => m.id)).toEqual(['1', '2', '3']);
    const rd = r.ready();
    expect(rd.entries).toHaveLength(1);
    expect(rd.committed).toHaveLength(1);
    expect(rd.hardState).toEqual({ term: 1, vote: '', commit: 1 });
    expect(rd.mustSync).toBe(true);
    r.advance();
  });

  it('three members elect one leader and replicate to all', () => {
    const c = new TestCluster(['1', '2', '3']);
    const l = c.elect();
    const leaders = [...c.rafts.values()].filter((r) => r.softState().role === 'leader');
    expect(leaders).toHaveLength(1);
    for (let i = 0; i < 10; i++) expect(l.propose([bytes(`v${i}`)]).ok).toBe(true);
    c.settle();
    for (const id of ['1', '2', '3']) expect(c.appliedData(id)).toEqual(Array.from({ length: 10 }, (_, i) => `v${i}`));
  });

  it('followers refuse proposals and name the leader', () => {
    const c = new TestCluster(['1', '2', '3']);
    const l = c.elect();
    c.tick(2);
    const f = [...c.rafts.values()].find((r) => r !== l)!;
    const res = f.propose([bytes('x')]);
    expect(res).toMatchObject({ ok: false, reason: 'not-leader', leader: l.id });
  });

  it('batches proposals into few append messages (pipelining in replicate state)', () => {
    const c = new TestCluster(['1', '2', '3'], { maxEntriesPerMsg: 100 });
    const l = c.elect();
    c.tick(2);
    c.sent.length = 0;
    l.propose(Array.from({ length: 250 }, (_, i) => bytes(`e${i}`)));
    c.settle();
    const appends = c.sent.filter((m) => m.type === 'append' && m.entries.length > 0);
    expect(appends.length).toBe(6); // 3 messages of <= 100 entries to each of 2 followers
    expect(c.appliedData('3')).toHaveLength(250);
  });

  it('pre-vote keeps an isolated member from disrupting the cluster when it returns', () => {
    const c = new TestCluster(['1', '2', '3']);
    const l = c.elect();
    const term = l.softState().term;
    const f = [...c.rafts.values()].find((r) => r !== l)!;
    c.isolate(f.id);
    c.tick(100);
    expect(f.softState().term).toBe(term); // pre-votes never succeeded, so the term never grew
    c.heal();
    c.tick(5);
    expect(l.softState()).toMatchObject({ role: 'leader', term });
  });

  it('check-quorum makes a leader cut off from the majority step down', () => {
    const c = new TestCluster(['1', '2', '3']);
    const l = c.elect();
    c.isolate(l.id);
    c.tick(25);
    expect(l.softState().role).not.toBe('leader');
    const others = [...c.rafts.values()].filter((r) => r !== l && r.softState().role === 'leader');
    expect(others).toHaveLength(1);
    expect(others[0].softState().term).toBeGreaterThan(1);
  });

  it('without pre-vote a returning member bumps the term', () => {
    const c = new TestCluster(['1', '2', '3'], { preVote: false, checkQuorum: false });
    const l = c.elect();
    const f = [...c.rafts.values()].find((r) => r !== l)!;
    c.isolate(f.id);
    c.tick(40);
    expect(f.softState().term).toBeGreaterThan(l.softState().term);
  });

  it('transfers leadership to a chosen member', () => {
    const c = new TestCluster(['1', '2', '3']);
    const l = c.elect();
    l.propose([bytes('x')]);
    c.settle();
    const to = [...c.rafts.keys()].find((id) => id !== l.id)!;
    expect(l.transferLeadership(to).ok).toBe(true);
    expect(l.propose([bytes('refused')])).toMatchObject({ ok: false, reason: 'transferring' });
    c.settle();
    expect(c.get(to).softState().role).toBe('leader');
    expect(l.softState().role).toBe('follower');
  });

  it('serves read index only after a quorum confirms leadership', () => {
    const c = new TestCluster(['1', '2', '3']);
    const l = c.elect();
    l.propose([bytes('x')]);
    c.settle();
    const others = [...c.rafts.keys()].filter((id) => id !== l.id);
    c.isolate(l.id);
    const ctx = l.readIndex()!;
    c.settle();
    expect(c.readStates.get(l.id) ?? []).toEqual([]);
    c.heal();
    const ctx2 = l.readIndex()!;
    c.settle();
    const states = c.readStates.get(l.id)!;
    expect(states.map((s) => s.ctx)).toEqual([ctx, ctx2]);
    expect(states[1].index).toBe(l.status().commit);
    expect(c.get(others[0]).readIndex()).toBeUndefined();
  });

  it('compacts the log and brings a lagging member up with a snapshot', () => {
    const c = new TestCluster(['1', '2', '3']);
    const l = c.elect();
    const lagging = [...c.rafts.keys()].find((id) => id !== l.id)!;
    c.isolate(lagging);
    for (let i = 0; i < 20; i++) l.propose([bytes(`v${i}`)]);
    c.settle();
    const applied = l.status().applied;
    l.compact(applied, bytes('snapshot-image'));
    expect(l.firstIndex()).toBe(applied + 1);
    c.heal();
    c.tick(3);
    const disk = c.disks.get(lagging)!;
    expect(disk.snapshot?.data).toEqual(bytes('snapshot-image'));
    expect(c.get(lagging).status().commit).toBe(l.status().commit);
    expect(c.sent.some((m) => m.type === 'snapshot' && m.to === lagging)).toBe(true);
  });

  it('adds and removes members one at a time', () => {
    const c = new TestCluster(['1', '2', '3']);
    const l = c.elect();
    c.settle();
    c.add('4');
    expect(l.proposeConfChange({ op: 'add', id: '4', addr: 'addr-4' }).ok).toBe(true);
    expect(l.proposeConfChange({ op: 'add', id: '5', addr: 'addr-5' })).toMatchObject({ reason: 'conf-pending' });
    c.tick(3);
    expect(
      c
        .get('4')
        .conf()
        .members.map((m) => m.id),
    ).toEqual(['1', '2', '3', '4']);
    l.propose([bytes('after-add')]);
    c.settle();
    expect(c.appliedData('4')).toContain('after-add');
    expect(l.proposeConfChange({ op: 'add', id: '4', addr: 'x' })).toMatchObject({ reason: 'invalid' });
    expect(l.proposeConfChange({ op: 'remove', id: '2' }).ok).toBe(true);
    c.tick(3);
    expect(l.conf().members.map((m) => m.id)).toEqual(['1', '3', '4'].filter((id) => id !== '2'));
  });

  it('a removed leader steps down once the removal commits', () => {
    const c = new TestCluster(['1', '2', '3']);
    const l = c.elect();
    c.settle();
    expect(l.proposeConfChange({ op: 'remove', id: l.id }).ok).toBe(true);
    c.settle();
    expect(l.softState().role).toBe('follower');
    const next = c.elect();
    expect(next.id).not.toBe(l.id);
    expect(next.conf().members.map((m) => m.id)).not.toContain(l.id);
  });

  it('restarts from persisted state and keeps its vote and log', () => {
    const c = new TestCluster(['1', '2', '3']);
    const l = c.elect();
    l.propose([bytes('durable')]);
    c.settle();
    const id = [...c.rafts.keys()].find((x) => x !== l.id)!;
    const before = c.get(id).hardState();
    c.crash(id);
    const r = c.add(id);
    expect(r.hardState()).toEqual(before);
    c.settle();
    expect(c.appliedData(id)).toContain('durable');
  });

  it('never truncates committed entries when a stale append arrives', () => {
    const r = new Raft({ id: '1', electionTicks: 10, heartbeatTicks: 1, random: () => 0.5 });
    expect(() =>
      r.step({
        type: 'append',
        from: '2',
        to: '1',
        term: 1,
        prevIndex: 0,
        prevTerm: 0,
        entries: [{ term: 1, index: 1, type: 'normal', data: bytes('a') }],
        commit: 1,
      }),
    ).not.toThrow();
    expect(() =>
      r.step({
        type: 'append',
        from: '3',
        to: '1',
        term: 2,
        prevIndex: 0,
        prevTerm: 0,
        entries: [{ term: 2, index: 1, type: 'normal', data: bytes('b') }],
        commit: 1,
      }),
    ).not.toThrow(); // prevIndex 0 < commit 1: the member answers with its commit instead of truncating
    expect(new TextDecoder().decode(r.entryAt(1)!.data)).toBe('a');
    const rd = r.ready();
    expect(rd.messages.at(-1)).toMatchObject({ type: 'appendResp', to: '3', index: 1, reject: false });
  });

  it('is deterministic for the same randomness', () => {
    const run = () => {
      const c = new TestCluster(['1', '2', '3', '4', '5']);
      const l = c.elect();
      return `${l.id}@${l.softState().term}:${c.sent.length}`;
    };
    expect(run()).toBe(run());
  });
});
