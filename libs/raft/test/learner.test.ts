import { describe, expect, it } from '@jest/globals';
import type { Raft } from '../src/raft.ts';
import { decodeConf, encodeConf, voters } from '../src/types.ts';
import { bytes, TestCluster } from './harness.ts';

const ids = (r: Raft) => voters(r.conf()).map((m) => m.id);
const learners = (r: Raft) =>
  r
    .conf()
    .members.filter((m) => m.learner)
    .map((m) => m.id);

describe('raft learners', () => {
  it('adding an unreachable member to a single voter keeps it committing, before and after a restart', () => {
    const c = new TestCluster(['1']);
    const l = c.elect();
    expect(l.proposeConfChange({ op: 'add', id: '2', addr: 'unreachable:1' }).ok).toBe(true);
    c.settle();
    // '2' has no Raft in the cluster: every message to it is lost.
    expect(learners(l)).toEqual(['2']);
    expect(ids(l)).toEqual(['1']);
    expect(l.propose([bytes('still-writable')]).ok).toBe(true);
    c.tick(50);
    expect(c.appliedData('1')).toEqual(['still-writable']);
    expect(learners(l)).toEqual(['2']); // never promoted: it never answered
    expect(c.sent.some((m) => m.to === '2' && m.type === 'append')).toBe(true);

    // Restart on the same storage: the sole voter elects itself again and commits.
    c.crash('1');
    c.add('1');
    const again = c.elect();
    expect(again.id).toBe('1');
    expect(again.propose([bytes('after-restart')]).ok).toBe(true);
    c.settle();
    expect(c.appliedData('1')).toContain('after-restart');
  });

  it('a learner receives the log, never campaigns, and is promoted to voter once it has caught up', () => {
    const c = new TestCluster(['1', '2', '3']);
    const l = c.elect();
    for (let i = 0; i < 5; i++) l.propose([bytes(`v${i}`)]);
    c.settle();
    c.isolate('4');
    c.add('4');
    expect(l.proposeConfChange({ op: 'add', id: '4', addr: 'addr-4' }).ok).toBe(true);
    c.tick(3);
    expect(learners(l)).toEqual(['4']);
    // Cut off, the learner knows nothing and stays quiet: its election timer never starts a campaign.
    c.tick(60, ['4']);
    expect(c.get('4').softState()).toMatchObject({ role: 'follower', term: 0 });
    expect(c.sent.some((m) => m.from === '4')).toBe(false);
    // The three voters still commit without it.
    expect(l.propose([bytes('without-4')]).ok).toBe(true);
    c.settle();
    expect(c.appliedData('3')).toContain('without-4');
    expect(learners(l)).toEqual(['4']);

    c.heal();
    c.tick(5);
    expect(c.appliedData('4')).toEqual(['v0', 'v1', 'v2', 'v3', 'v4', 'without-4']);
    expect(learners(l)).toEqual([]);
    expect(ids(l)).toEqual(['1', '2', '3', '4']);
    expect(ids(c.get('4'))).toEqual(['1', '2', '3', '4']);
    // The promotion went through the log as its own conf entry after the add.
    const confs = c.applied.get('4')!.filter((e) => e.type === 'conf');
    expect(
      confs.map((e) =>
        decodeConf(e.data)
          .members.map((m) => `${m.id}${m.learner ? 'L' : ''}`)
          .join(','),
      ),
    ).toEqual(['1,2,3', '1,2,3,4L', '1,2,3,4']);
  });

  it('acknowledgements of a learner do not count for the commit quorum', () => {
    const c = new TestCluster(['1', '2']);
    const l = c.elect();
    const other = l.id === '1' ? '2' : '1';
    c.add('3');
    c.cut(l.id, other);
    // The add itself cannot commit without the other voter, so the learner cannot be promoted meanwhile.
    expect(l.proposeConfChange({ op: 'add', id: '3', addr: 'addr-3' }).ok).toBe(true);
    expect(l.propose([bytes('needs-two-voters')]).ok).toBe(true);
    const before = l.status().commit;
    c.settle();
    expect(c.get('3').lastIndex()).toBe(l.lastIndex()); // the learner holds and acknowledged everything
    expect(l.status().progress['3']).toMatchObject({ match: l.lastIndex(), learner: true });
    expect(l.status().commit).toBe(before);
    expect(c.appliedData(l.id)).not.toContain('needs-two-voters');
    expect(learners(l)).toEqual(['3']);
    c.heal();
    c.tick(5);
    expect(c.appliedData(l.id)).toContain('needs-two-voters');
    expect(ids(c.leader()!)).toEqual(['1', '2', '3']);
  });

  it('removes learners and voters, refuses removing the last voter and transferring to a learner', () => {
    const c = new TestCluster(['1']);
    const l = c.elect();
    expect(l.proposeConfChange({ op: 'add', id: '2', addr: 'addr-2' }).ok).toBe(true);
    c.settle();
    expect(l.transferLeadership('2')).toMatchObject({ ok: false, reason: 'invalid' });
    expect(l.proposeConfChange({ op: 'promote', id: '1' })).toMatchObject({ ok: false, reason: 'invalid' });
    expect(l.proposeConfChange({ op: 'remove', id: '1' })).toMatchObject({ ok: false, reason: 'invalid' });
    expect(l.proposeConfChange({ op: 'remove', id: '2' }).ok).toBe(true);
    c.settle();
    expect(l.conf().members.map((m) => m.id)).toEqual(['1']);
    expect(l.proposeConfChange({ op: 'remove', id: '2' })).toMatchObject({ ok: false, reason: 'invalid' });
    // A voter can be removed too once there are two.
    c.add('3');
    expect(l.proposeConfChange({ op: 'add', id: '3', addr: 'addr-3' }).ok).toBe(true);
    c.tick(5);
    expect(ids(l)).toEqual(['1', '3']);
    expect(l.proposeConfChange({ op: 'remove', id: '3' }).ok).toBe(true);
    c.tick(3);
    expect(l.conf().members.map((m) => m.id)).toEqual(['1']);
    expect(l.propose([bytes('alone-again')]).ok).toBe(true);
    c.settle();
    expect(c.appliedData('1')).toContain('alone-again');
  });

  it('a learner far behind is brought up with a snapshot before it is promoted', () => {
    const c = new TestCluster(['1', '2', '3']);
    const l = c.elect();
    for (let i = 0; i < 30; i++) l.propose([bytes(`v${i}`)]);
    c.settle();
    l.compact(l.status().applied, bytes('image'));
    c.add('4');
    expect(l.proposeConfChange({ op: 'add', id: '4', addr: 'addr-4' }).ok).toBe(true);
    c.tick(5);
    expect(c.disks.get('4')!.snapshot?.data).toEqual(bytes('image'));
    expect(ids(l)).toContain('4');
  });

  it('promotes a learner only once it holds the membership and is within promoteLagEntries of the leader', () => {
    const c = new TestCluster(['1'], { maxEntriesPerMsg: 2, maxInflight: 1, promoteLagEntries: 3 });
    const l = c.elect();
    for (let i = 0; i < 10; i++) l.propose([bytes(`old${i}`)]);
    c.settle();
    c.add('2');
    expect(l.proposeConfChange({ op: 'add', id: '2', addr: 'addr-2' }).ok).toBe(true);
    const addAt = l.lastIndex();
    for (let i = 0; i < 20; i++) l.propose([bytes(`new${i}`)]); // the learner will trail by 20 entries
    expect(c.deliver(3)).toBe(false);
    expect(c.get('2').lastIndex()).toBeLessThan(addAt);
    l.tick(); // a heartbeat, answered while the learner lacks even its own membership entry
    expect(c.deliver(2)).toBe(false);
    // Deliver one round at a time and watch the leader's view of the learner.
    let heldMembershipButLagged = false;
    let matchWhenPromoted = -1;
    while (matchWhenPromoted < 0 && !c.deliver(1)) {
      const match = l.status().progress['2'].match;
      if (learners(l).includes('2')) heldMembershipButLagged ||= match >= addAt;
      else matchWhenPromoted = match;
    }
    c.settle();
    expect(ids(l)).toEqual(['1', '2']);
    const promoteAt = addAt + 21;
    expect(l.entryAt(promoteAt)?.type).toBe('conf');
    expect(heldMembershipButLagged).toBe(true);
    expect(matchWhenPromoted).toBeGreaterThanOrEqual(promoteAt - 1 - 3);
  });

  it('a learner that crashes while catching up resumes from its disk and is promoted after', () => {
    const c = new TestCluster(['1', '2', '3'], { maxEntriesPerMsg: 2, maxInflight: 1 });
    const l = c.elect();
    for (let i = 0; i < 20; i++) l.propose([bytes(`v${i}`)]);
    c.settle();
    c.add('4');
    expect(l.proposeConfChange({ op: 'add', id: '4', addr: 'addr-4' }).ok).toBe(true);
    // The leader sends it the log two entries at a time; stop half-way through the catch-up.
    expect(c.deliver(12)).toBe(false);
    const stored = c.disks.get('4')!.entries.length;
    expect(stored).toBeGreaterThan(0);
    expect(stored).toBeLessThan(l.lastIndex() - 3);
    c.crash('4');
    c.tick(30); // down for a while: the three voters go on
    expect(learners(l)).toEqual(['4']);
    expect(l.propose([bytes('while-down')]).ok).toBe(true);
    c.settle();
    c.heal();
    const r = c.add('4');
    expect(r.lastIndex()).toBeGreaterThan(0); // restarted from its stored log
    c.tick(5);
    expect(ids(l)).toEqual(['1', '2', '3', '4']);
    expect(c.appliedData('4')).toContain('while-down');
  });

  it('membership entries carry the learner flag and older voter-only entries still decode', () => {
    const conf = {
      members: [
        { id: 'b', addr: 'B', learner: true },
        { id: 'a', addr: 'A' },
      ],
    };
    expect(decodeConf(encodeConf(conf))).toEqual({
      members: [
        { id: 'a', addr: 'A' },
        { id: 'b', addr: 'B', learner: true },
      ],
    });
    expect(decodeConf(new TextEncoder().encode('{"members":[{"id":"x","addr":"X"}]}'))).toEqual({
      members: [{ id: 'x', addr: 'X' }],
    });
  });
});
