import type { MetadataNode } from '@stead/metadata';
import { readGauge } from '@stead/runtime';
import { Counter, type Registry } from 'prom-client';

/** Exposes a member's Raft and store figures as `stead_metadata_*` metrics, read at scrape time. */
export function registerMetadataMetrics(registry: Registry, node: MetadataNode): void {
  const gauge = (name: string, help: string, read: () => number) =>
    readGauge(registry, `stead_metadata_${name}`, help, read);
  const counter = (name: string, help: string, read: () => number) =>
    new Counter({
      name: `stead_metadata_${name}_total`,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  gauge('raft_term', 'Current Raft term.', () => node.status().term);
  gauge('raft_commit_index', 'Highest committed log index.', () => node.status().commitIndex);
  gauge('raft_applied_index', 'Highest applied log index.', () => node.status().appliedIndex);
  gauge('raft_last_index', 'Last log index.', () => node.status().lastIndex);
  gauge('raft_snapshot_index', 'Index of the latest snapshot.', () => node.status().snapshotIndex);
  gauge('is_leader', '1 when this member leads.', () => (node.isLeader() ? 1 : 0));
  gauge('has_leader', '1 when this member knows a leader.', () => (node.status().leaderId ? 1 : 0));
  gauge(
    'members',
    'Voting members in the configuration.',
    () => node.status().members.filter((m) => !m.learner).length,
  );
  gauge(
    'learners',
    'Non-voting members (added, not yet caught up and promoted).',
    () => node.status().members.filter((m) => m.learner).length,
  );
  gauge('keys', 'Keys holding a value.', () => node.stats.keys);
  counter('writes', 'Writes (put/delete) received.', () => node.stats.writes);
  counter(
    'write_failures',
    'Writes that failed (precondition, not leader, unknown outcome).',
    () => node.stats.writeFailures,
  );
  counter('reads', 'Reads received.', () => node.stats.reads);
  counter('applied_entries', 'Log entries applied.', () => node.stats.applied);
  counter('fsyncs', 'Synced LevelDB batches.', () => node.stats.fsyncs);
  counter('fsync_seconds', 'Time spent in synced batches.', () => node.stats.fsyncMs / 1000);
  counter('snapshots_taken', 'Snapshots taken locally.', () => node.stats.snapshotsTaken);
  counter('snapshots_installed', 'Snapshots received from a leader.', () => node.stats.snapshotsInstalled);
  counter('leader_changes', 'Leader changes seen.', () => node.stats.leaderChanges);
  counter('raft_messages_sent', 'Raft messages sent.', () => node.stats.messagesSent);
  counter('raft_messages_received', 'Raft messages received.', () => node.stats.messagesReceived);
}
