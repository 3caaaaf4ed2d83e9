import { renderFields, renderTable } from '../src/table.ts';
import { renderLog, renderLogs, renderNodeList, renderPartitions, renderStatus } from '../src/views.ts';
import { CLUSTER, LOG } from './fixtures.ts';

describe('renderTable', () => {
  it('pads every column to its widest cell, two spaces apart, with no trailing blanks', () => {
    expect(
      renderTable(
        ['A', 'LONG HEADER', 'C'],
        [
          ['wide value', 1, 'x'],
          ['b', 22, ''],
        ],
      ),
    ).toBe(['A           LONG HEADER  C', 'wide value  1            x', 'b           22           -'].join('\n'));
  });

  it('shows missing cells as "-" and lists joined by commas', () => {
    expect(
      renderTable(
        ['X', 'Y'],
        [
          [undefined, ['a', 'b']],
          [null, []],
        ],
      ),
    ).toBe(['X  Y', '-  a,b', '-  -'].join('\n'));
  });

  it('prints only the header of an empty table', () => {
    expect(renderTable(['ONE', 'TWO'], [])).toBe('ONE  TWO');
  });

  it('aligns the values of labelled fields', () => {
    expect(
      renderFields([
        ['A', '1'],
        ['Longer', '2'],
      ]),
    ).toBe('A:       1\nLonger:  2');
  });
});

describe('views', () => {
  it('status: the controller, live nodes, partitions with a leader, then the nodes and logs', () => {
    const out = renderStatus(CLUSTER);
    expect(out).toContain('Controller:   admin-1 (active, term 3)');
    expect(out).toContain('Nodes:        1 of 2 alive');
    expect(out).toContain('Partitions:   2, replication 2, 1 of 2 with a leader');
    expect(out).toContain('Unavailable:  1');
    expect(out).toMatch(/^w2 +worker +127\.0\.0\.1:5202 +no +no$/m);
    expect(out).toMatch(/^partition-1 +1 +s1 +1$/m);
  });

  it('status from a standby admin says where the controller runs instead of listing nodes', () => {
    const standby = { ...CLUSTER, controller: { node: 'admin-2', active: false, lease_holder: 'admin-1' } };
    expect(renderStatus(standby)).toContain('Controller:  admin-1 (admin-2 is on standby)');
    expect(renderNodeList(standby)).toBe('Nodes: unknown (the active controller runs in admin-1; ask that admin)');
  });

  it('partitions list: replicas, leader ("-" when none) and epoch', () => {
    expect(renderPartitions(CLUSTER).split('\n')).toEqual([
      'PARTITION  REPLICAS  LEADER  EPOCH',
      '0          w1,w2     w1      4',
      '1          w2        -       2',
    ]);
  });

  it('logs list: segments, sequencer and trim point; "local" for the logs of a one-process server', () => {
    expect(renderLogs(CLUSTER).split('\n')[2]).toMatch(/^1 +partition-1 +1 +s1 +12$/);
    const local = { ...CLUSTER, logs: [{ partition: 0, log: 'partition-0', kind: 'local' as const, segments: 0 }] };
    expect(renderLogs(local).split('\n')[1]).toMatch(/^0 +partition-0 +local +- +-$/);
  });

  it('logs describe: every segment, the sealed tail or "open"', () => {
    const lines = renderLog(LOG).split('\n');
    expect(lines[0]).toBe('Log:         partition-1');
    expect(lines).toContain('Trim point:  12');
    expect(lines.find((l) => l.startsWith('0 '))).toMatch(
      /^0 +0 +partition-1\.0 +s1 +aaaa +l1,l2@z2 +\{node: 2\} +40$/,
    );
    expect(lines.find((l) => l.startsWith('1 '))).toMatch(
      /^1 +40 +partition-1\.1 +w1 +bbbb +l1,l3 +\{node: 2\} +open$/,
    );
  });
});
