import {
  Cleanup,
  checkUnderLoad,
  ctlJson,
  ctlOk,
  type ExactlyOnceReport,
  type Proc,
  ServiceProcess,
  SteadServer,
  startMemberProcess,
  TOPOLOGY,
  waitFor,
} from '@stead/testing';

const SERVICES = new URL('../services/main.ts', import.meta.url).pathname;
const STEP_TIMEOUT_MS = 120_000;
const PARTITIONS = 4;
const LOCAL_LOG_NODE = 'server-local-log';

interface Placement {
  partition: number;
  replicas: string[];
  leader?: string;
  epoch: number;
}

interface ClusterJson {
  partition_table?: { partitions: number; placements: Placement[] };
  log_nodes?: Array<{ id: string; kind: string; draining: boolean; segments: number }>;
}

interface Chain {
  log: string;
  segments: Array<{
    index: number;
    sequencer: { id: string };
    nodeset: Array<{ id: string }>;
    replication: { scope: string; count: number };
    sealed_tail?: string;
  }>;
}

const describeHere = TOPOLOGY === 'single' ? describe : describe.skip;

async function clusterJson(adminUrl: string): Promise<ClusterJson> {
  const res = await fetch(`${adminUrl}/cluster`, { signal: AbortSignal.timeout(5_000) });
  if (res.status !== 200) throw new Error(`GET /cluster answered ${res.status}`);
  return (await res.json()) as ClusterJson;
}

async function chains(adminUrl: string): Promise<Chain[]> {
  return Promise.all(
    Array.from({ length: PARTITIONS }, (_, p) => ctlJson<Chain>(adminUrl, ['logs', 'describe', String(p)])),
  );
}

/** Runs `step` under load and returns the checker's verdict, after enough increments before and after it. */
function underLoad(ingressUrl: string, step: () => Promise<void>): Promise<ExactlyOnceReport> {
  return checkUnderLoad(step, { ingressUrl, keys: 16, clients: 6, afterTimeoutMs: 30_000 });
}

function expectExactlyOnce(report: ExactlyOnceReport): void {
  expect(report.mismatches).toEqual([]);
  expect(report.unacknowledged).toBe(0);
  expect(report.acknowledged).toBeGreaterThanOrEqual(150);
}

describeHere('a one-process server grows into a cluster in place and shrinks back, under load', () => {
  const cleanup = new Cleanup();
  const reports: Record<string, ExactlyOnceReport> = {};
  let server: SteadServer;
  let metadataAddress: string;
  const others: Record<string, Proc> = {};

  beforeAll(async () => {
    server = await SteadServer.start(cleanup, ['--partitions', String(PARTITIONS)]);
    metadataAddress = `127.0.0.1:${server.ports.node}`;
    const svc = await ServiceProcess.start(cleanup, SERVICES);
    const res = await fetch(`${server.adminUrl}/deployments`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ uri: svc.uri }),
    });
    if (res.status !== 201 && res.status !== 200) throw new Error(`registration: ${res.status} ${await res.text()}`);
  }, 60_000);
  afterAll(async () => {
    process.stdout.write(`exactly-once checker: ${JSON.stringify(reports)}\n`);
    await cleanup.run();
  }, 60_000);

  it(
    'grows: the local logs become segment 0 of replicated logs, new segments and partitions get 2 copies',
    async () => {
      // Too few log servers: refused before anything changes.
      const refused = await fetch(`${server.adminUrl}/cluster/config`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ log_replication: '2' }),
      });
      expect(refused.status).toBe(400);
      expect(await refused.text()).toMatch(/start more log servers/);
      for (const id of ['ls1', 'ls2'])
        others[id] = await startMemberProcess(cleanup, 'log-server', id, metadataAddress);
      others.w2 = await startMemberProcess(cleanup, 'worker', 'w2', metadataAddress);
      reports.grow = await underLoad(server.ingressUrl, async () => {
        const set = await ctlOk(server.adminUrl, [
          'config',
          'set',
          '--log-replication',
          '2',
          '--partition-replication',
          '2',
        ]);
        expect(set).toMatch(/\{node: 2\}/);
        await waitFor(
          async () => {
            const t = (await clusterJson(server.adminUrl)).partition_table;
            if (!t || t.placements.some((p) => p.replicas.length !== 2 || p.leader === undefined))
              throw new Error(`placements ${JSON.stringify(t?.placements)}`);
            for (const c of await chains(server.adminUrl)) {
              const open = c.segments.at(-1)!;
              if (open.sealed_tail !== undefined || open.replication.count !== 2)
                throw new Error(`${c.log}: open segment ${JSON.stringify(open)}`);
              for (const s of c.segments) {
                const ids = s.nodeset.map((m) => m.id);
                if (ids.includes(LOCAL_LOG_NODE)) throw new Error(`${c.log}: segment ${s.index} still on ${ids}`);
              }
              if (!open.nodeset.some((m) => m.id === 'ls1' || m.id === 'ls2'))
                throw new Error(`${c.log}: open segment on ${JSON.stringify(open.nodeset)}`);
            }
            return true;
          },
          { timeoutMs: 60_000, intervalMs: 500, what: 'every partition on 2 workers and every log replicated' },
        );
      });
      expectExactlyOnce(reports.grow);
      // Segment 0 is what the server's local log held: it starts at offset 0 and is sealed.
      for (const c of await chains(server.adminUrl)) {
        expect(c.segments[0]!.index).toBe(0);
        expect(c.segments[0]!.sealed_tail).toBeDefined();
      }
      const nodes = await ctlOk(server.adminUrl, ['nodes', 'list']);
      expect(nodes).toMatch(/^w2 /m);
      expect(nodes).toMatch(/^ls1 /m);
    },
    STEP_TIMEOUT_MS,
  );

  it(
    'shrinks back: replication 1, the worker and the log servers drained and stopped; the server serves alone',
    async () => {
      reports.shrink = await underLoad(server.ingressUrl, async () => {
        await ctlOk(server.adminUrl, ['config', 'set', '--log-replication', '1', '--partition-replication', '1']);
        for (const id of ['w2', 'ls1', 'ls2']) {
          expect(await ctlOk(server.adminUrl, ['nodes', 'drain', id], 90_000)).toMatch(new RegExp(`${id} drained`));
          await others[id]!.stop(30_000);
          await ctlOk(server.adminUrl, ['nodes', 'remove', id]);
        }
        await waitFor(
          async () => {
            const t = (await clusterJson(server.adminUrl)).partition_table!;
            return t.placements.every((p) => p.leader === 'server' && p.replicas.join() === 'server');
          },
          { timeoutMs: 30_000, intervalMs: 500, what: 'every partition on the server alone' },
        );
      });
      expectExactlyOnce(reports.shrink);
      for (const c of await chains(server.adminUrl))
        for (const s of c.segments) expect(s.nodeset.map((m) => m.id)).toEqual(['server']);
    },
    STEP_TIMEOUT_MS,
  );

  it(
    'restarts as the cluster member it became, with its state',
    async () => {
      await server.restart();
      reports.restart = await underLoad(server.ingressUrl, async () => {});
      expectExactlyOnce(reports.restart);
      expect((await clusterJson(server.adminUrl)).partition_table?.placements.every((p) => p.leader === 'server')).toBe(
        true,
      );
    },
    STEP_TIMEOUT_MS,
  );
});
