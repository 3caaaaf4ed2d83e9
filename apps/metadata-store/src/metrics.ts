import type { MetadataMetrics, MetadataNode } from '@stead/metadata';
import { histogram, readCounter, readGauge } from '@stead/runtime';
import type { Registry } from 'prom-client';

/** The commit duration histogram, fed by the member as each write it serves is committed and applied. */
export function registerCommitMetrics(registry: Registry): MetadataMetrics {
  const duration = histogram(
    registry,
    'stead_metadata_commit_duration_seconds',
    'Writes, from receipt to committed and applied',
  );
  return { committed: (seconds) => duration.observe(seconds) };
}

/** Exposes a member's Raft and store figures as `stead_metadata_*` metrics, read at scrape time. */
export function registerMetadataMetrics(registry: Registry, node: MetadataNode): void {
  const gauge = (name: string, help: string, read: () => number) => readGauge(registry, name, help, read);
  const counter = (name: string, help: string, read: () => number) => readCounter(registry, name, help, read);
  gauge('stead_metadata_raft_term', 'Current Raft term.', () => node.status().term);
  gauge('stead_metadata_raft_commit_index', 'Highest committed log index.', () => node.status().commitIndex);
  gauge('stead_metadata_raft_applied_index', 'Highest applied log index.', () => node.status().appliedIndex);
  gauge('stead_metadata_raft_last_index', 'Last log index.', () => node.status().lastIndex);
  gauge('stead_metadata_raft_snapshot_index', 'Index of the latest snapshot.', () => node.status().snapshotIndex);
  gauge('stead_metadata_is_leader', '1 when this member leads.', () => (node.isLeader() ? 1 : 0));
  gauge('stead_metadata_has_leader', '1 when this member knows a leader.', () => (node.status().leaderId ? 1 : 0));
  gauge(
    'stead_metadata_members',
    'Voting members in the configuration.',
    () => node.status().members.filter((m) => !m.learner).length,
  );
  gauge(
    'stead_metadata_learners',
    'Non-voting members (added, not yet caught up and promoted).',
    () => node.status().members.filter((m) => m.learner).length,
  );
  gauge('stead_metadata_keys', 'Keys holding a value.', () => node.stats.keys);
  counter('stead_metadata_writes_total', 'Writes (put/delete) received.', () => node.stats.writes);
  counter(
    'stead_metadata_write_failures_total',
    'Writes that failed (precondition, not leader, unknown outcome).',
    () => node.stats.writeFailures,
  );
  counter('stead_metadata_reads_total', 'Reads received.', () => node.stats.reads);
  counter('stead_metadata_applied_entries_total', 'Log entries applied.', () => node.stats.applied);
  counter('stead_metadata_fsyncs_total', 'Synced LevelDB batches.', () => node.stats.fsyncs);
  counter('stead_metadata_fsync_seconds_total', 'Time spent in synced batches.', () => node.stats.fsyncMs / 1000);
  counter('stead_metadata_snapshots_taken_total', 'Snapshots taken locally.', () => node.stats.snapshotsTaken);
  counter(
    'stead_metadata_snapshots_installed_total',
    'Snapshots received from a leader.',
    () => node.stats.snapshotsInstalled,
  );
  counter('stead_metadata_leader_changes_total', 'Leader changes seen.', () => node.stats.leaderChanges);
  counter('stead_metadata_raft_messages_sent_total', 'Raft messages sent.', () => node.stats.messagesSent);
  counter('stead_metadata_raft_messages_received_total', 'Raft messages received.', () => node.stats.messagesReceived);
}
