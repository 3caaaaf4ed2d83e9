// A local Stead cluster on loopback, for trying cluster mode on one machine:
//
//   npm run cluster -- up [--dir ./stead-cluster] [--workers 3] [--log-servers 3] [--sequencers 2] [--metadata 3]
//                         [--partitions 8] [--partition-replication 2] [--log-replication 2]
//                         [--ingress-port 8080] [--admin-port 9070]
//   npm run cluster -- status [--dir ./stead-cluster]
//   npm run cluster -- down [--dir ./stead-cluster]
//
// `up` starts every process in the background (data and logs under --dir), waits until the cluster serves and
// prints where each process listens and logs; `down` stops what `up` started (by the pids it recorded).
import { parseArgs } from 'node:util';
import { clusterProcessAlive, LocalCluster, removeNamespaces, stopProcesses } from '@stead/testing/local-cluster';

const USAGE = 'usage: npm run cluster -- up|status|down [--dir DIR] [--workers N] ... (see scripts/cluster.ts)';

function count(v: string | undefined, name: string, fallback: number, min = 1): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) {
    console.error(`--${name}: expected an integer >= ${min}, got '${v}'`);
    process.exit(2);
  }
  return n;
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    dir: { type: 'string', default: './stead-cluster' },
    metadata: { type: 'string' },
    'log-servers': { type: 'string' },
    sequencers: { type: 'string' },
    workers: { type: 'string' },
    partitions: { type: 'string' },
    'partition-replication': { type: 'string' },
    'log-replication': { type: 'string' },
    'ingress-port': { type: 'string' },
    'admin-port': { type: 'string' },
  },
});
const command = positionals[0];
const dir = values.dir as string;

async function up(): Promise<void> {
  const running = LocalCluster.state(dir)?.processes.filter(clusterProcessAlive) ?? [];
  if (running.length > 0) {
    console.error(
      `a cluster already runs from ${dir} (${running.map((p) => p.name).join(', ')}); run 'npm run cluster -- down' first`,
    );
    process.exit(1);
  }
  const workers = count(values.workers, 'workers', 3);
  const logServers = count(values['log-servers'], 'log-servers', 3);
  const opts = {
    dir,
    detached: true,
    metadata: count(values.metadata, 'metadata', 3),
    logServers,
    sequencers: count(values.sequencers, 'sequencers', 2),
    workers,
    partitions: count(values.partitions, 'partitions', 8),
    partitionReplication: count(values['partition-replication'], 'partition-replication', Math.min(2, workers)),
    logReplication: count(values['log-replication'], 'log-replication', Math.min(2, logServers)),
    ingressPort: count(values['ingress-port'], 'ingress-port', 8080, 0),
    adminPort: count(values['admin-port'], 'admin-port', 9070, 0),
    progress: (line: string) => console.log(line),
  };
  console.log(`starting a local cluster in ${dir} ...`);
  const started = Date.now();
  const c = await LocalCluster.up(opts);
  console.log(`\ncluster serving after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  console.log(`  ingress  ${c.ingressUrl}`);
  console.log(`  gRPC     ${c.grpcIngressAddress} (gRPC ingress)`);
  console.log(`  admin    ${c.adminUrl}`);
  console.log(`  metadata ${c.metadataAddress}`);
  console.log(
    `\nregister a deployment:  curl ${c.adminUrl}/deployments -H 'content-type: application/json' -d '{"uri":"http://localhost:9080"}'`,
  );
  console.log(`stop everything:        npm run cluster -- down${dir === './stead-cluster' ? '' : ` --dir ${dir}`}`);
}

function status(): void {
  const state = LocalCluster.state(dir);
  if (!state) {
    console.log(`no cluster was started from ${dir}`);
    return;
  }
  for (const p of state.processes)
    console.log(
      `  ${p.name.padEnd(9)} ${p.role.padEnd(15)} pid ${String(p.pid).padEnd(8)} ${clusterProcessAlive(p) ? 'running' : 'stopped'}  log ${p.log}`,
    );
  console.log(`  ingress ${state.ingressUrl}  admin ${state.adminUrl}`);
}

async function down(): Promise<void> {
  const state = LocalCluster.state(dir);
  if (!state) {
    console.log(`no cluster was started from ${dir}; nothing to stop`);
    return;
  }
  console.log(`stopping the cluster of ${dir} ...`);
  await stopProcesses(state.processes, 10_000, undefined, (line) => console.log(line));
  removeNamespaces(state.netns ?? []);
  console.log('stopped (data and logs stay in place; remove the directory to start afresh)');
}

try {
  if (command === 'up') await up();
  else if (command === 'status') status();
  else if (command === 'down') await down();
  else {
    console.error(USAGE);
    process.exit(2);
  }
} catch (e) {
  console.error(`cluster ${command}: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
}
