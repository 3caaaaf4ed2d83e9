import type { ClusterView, LogView } from '../src/admin-client.ts';

/** `GET /cluster` of an active controller: 2 workers (one dead), 2 partitions (one without a leader). */
export const CLUSTER: ClusterView = {
  controller: {
    node: 'admin-1',
    active: true,
    term: 3,
    nodes: [
      { id: 'w1', roles: ['worker'], address: '127.0.0.1:5201', alive: true, draining: false },
      { id: 'w2', roles: ['worker'], address: '127.0.0.1:5202', alive: false, draining: false },
    ],
    unavailable_partitions: [1],
  },
  partition_table: {
    version: 7,
    partitions: 2,
    replication: 2,
    placements: [
      { partition: 0, replicas: ['w1', 'w2'], leader: 'w1', epoch: 4 },
      { partition: 1, replicas: ['w2'], epoch: 2 },
    ],
  },
  logs: [
    { partition: 0, log: 'partition-0', segments: 3, sequencer: 'w1', trim_point: '0' },
    { partition: 1, log: 'partition-1', segments: 1, sequencer: 's1', trim_point: '12' },
  ],
};

export const LOG: LogView = {
  log: 'partition-1',
  trim_point: '12',
  sealed: false,
  segments: [
    {
      index: 0,
      base: '0',
      loglet: 'partition-1.0',
      sequencer: { id: 's1', instance: 'aaaa' },
      nodeset: [{ id: 'l1' }, { id: 'l2', zone: 'z2' }],
      replication: { scope: 'node', count: 2 },
      sealed_tail: '40',
    },
    {
      index: 1,
      base: '40',
      loglet: 'partition-1.1',
      sequencer: { id: 'w1', instance: 'bbbb' },
      nodeset: [{ id: 'l1' }, { id: 'l3' }],
      replication: { scope: 'node', count: 2 },
    },
  ],
};
