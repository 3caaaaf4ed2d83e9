import {
  Bifrost,
  type BifrostOptions,
  ClusterDirectory,
  GrpcLogServerClient,
  GrpcSequencerClient,
  type ReplicationProperty,
  realTimers,
  updateNodes,
} from '@stead/log';
import { GrpcMetadataClient } from '@stead/metadata';
import { Cleanup, freePort, httpOk, NODE, Proc, REPO, waitFor } from './process.ts';

interface Member {
  id: string;
  port: number;
  metricsPort: number;
  dir?: string;
  zone?: string;
  proc?: Proc;
}

const FLAGS = ['--disable-warning=ExperimentalWarning'];

/**
 * A log cluster of real processes on loopback: one metadata-store member, log servers and sequencers. Log
 * servers are registered in the metadata store's nodes config by the harness; sequencers register themselves.
 */
export class LogCluster {
  readonly cleanup = new Cleanup();
  readonly root: string;
  metadataAddress = '';
  metadata!: GrpcMetadataClient;
  private metadataProc: Proc | undefined;
  readonly logServers = new Map<string, Member>();
  readonly sequencers = new Map<string, Member>();
  private readonly directories: ClusterDirectory[] = [];

  private constructor() {
    this.root = this.cleanup.tempDir('stead-log-cluster-');
  }

  static async start(opts: { logServers: number; sequencers: number; zones?: number }): Promise<LogCluster> {
    const c = new LogCluster();
    try {
      await c.startMetadata();
      for (let i = 1; i <= opts.logServers; i++)
        await c.addLogServer(`ls${i}`, opts.zones ? `z${(i - 1) % opts.zones}` : undefined);
      for (let i = 1; i <= opts.sequencers; i++) await c.startSequencer(`seq${i}`);
    } catch (e) {
      await c.stop();
      throw e;
    }
    return c;
  }

  private async startMetadata(): Promise<void> {
    const port = await freePort();
    const metricsPort = await freePort();
    this.metadataAddress = `127.0.0.1:${port}`;
    const proc = new Proc('metadata-store', NODE, [
      ...FLAGS,
      `${REPO}apps/metadata-store/src/main.ts`,
      '--node-id=m1',
      `--data-dir=${this.root}/metadata`,
      '--bind-address=127.0.0.1',
      `--node-port=${port}`,
      `--metrics-port=${metricsPort}`,
      `--advertised-address=${this.metadataAddress}`,
      '--cluster-name=log-e2e',
    ]);
    this.metadataProc = proc;
    this.cleanup.add(() => proc.stop());
    await waitFor(() => httpOk(`http://127.0.0.1:${metricsPort}/ready`), {
      timeoutMs: 20_000,
      what: `metadata store ready\n${proc.output()}`,
    });
    this.metadata = new GrpcMetadataClient({ addresses: [this.metadataAddress] });
    this.cleanup.add(() => this.metadata.close());
  }

  /** Starts a log server process and registers it in the nodes config. */
  async addLogServer(id: string, zone?: string): Promise<Member> {
    const m: Member = { id, port: await freePort(), metricsPort: await freePort(), dir: `${this.root}/${id}`, zone };
    this.logServers.set(id, m);
    await this.startLogServer(id);
    await updateNodes(this.metadata, (c) => ({
      ...c,
      logServers: {
        ...c.logServers,
        [id]: zone ? { address: `127.0.0.1:${m.port}`, zone } : { address: `127.0.0.1:${m.port}` },
      },
    }));
    return m;
  }

  /** (Re)starts the log server process `id` on its data dir and port. */
  async startLogServer(id: string): Promise<void> {
    const m = this.logServers.get(id)!;
    const proc = new Proc(id, NODE, [
      ...FLAGS,
      `${REPO}apps/log-server/src/main.ts`,
      `--node-id=${id}`,
      '--cluster-name=log-e2e',
      `--data-dir=${m.dir}`,
      '--bind-address=127.0.0.1',
      `--node-port=${m.port}`,
      `--metrics-port=${m.metricsPort}`,
      ...(m.zone ? [`--location=${m.zone}`] : []),
    ]);
    m.proc = proc;
    this.cleanup.add(() => proc.stop());
    await waitFor(() => httpOk(`http://127.0.0.1:${m.metricsPort}/ready`), {
      timeoutMs: 20_000,
      what: `log server ${id} ready\n${proc.output()}`,
    });
  }

  /** (Re)starts sequencer `id` (a new process instance; it registers itself). */
  async startSequencer(id: string): Promise<void> {
    let m = this.sequencers.get(id);
    if (!m) {
      m = { id, port: await freePort(), metricsPort: await freePort() };
      this.sequencers.set(id, m);
    }
    const proc = new Proc(id, NODE, [
      ...FLAGS,
      `${REPO}apps/sequencer/src/main.ts`,
      `--node-id=${id}`,
      `--metadata-address=${this.metadataAddress}`,
      '--bind-address=127.0.0.1',
      `--node-port=${m.port}`,
      `--advertised-address=127.0.0.1:${m.port}`,
      `--metrics-port=${m.metricsPort}`,
      '--store-timeout=1s',
    ]);
    m.proc = proc;
    this.cleanup.add(() => proc.stop());
    const mm = m;
    await waitFor(() => httpOk(`http://127.0.0.1:${mm.metricsPort}/ready`), {
      timeoutMs: 20_000,
      what: `sequencer ${id} ready\n${proc.output()}`,
    });
  }

  /** Kills a process with a signal and waits for it to exit. */
  async kill(id: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const m = this.logServers.get(id) ?? this.sequencers.get(id);
    if (!m?.proc) throw new Error(`no process ${id}`);
    m.proc.kill(signal);
    await m.proc.exited;
  }

  /** A virtual-log client talking gRPC to this cluster. */
  bifrost(
    replication: ReplicationProperty,
    opts: Partial<Omit<BifrostOptions, 'metadata' | 'logServers' | 'sequencers' | 'place'>> & {
      nodesetSize?: number;
    } = {},
  ): { bifrost: Bifrost; directory: ClusterDirectory } {
    const directory = new ClusterDirectory({
      metadata: this.metadata,
      connectLogServer: (addr) => new GrpcLogServerClient(addr),
      connectSequencer: (addr) => new GrpcSequencerClient(addr, { timeoutMs: 2_000 }),
      replication,
      nodesetSize: opts.nodesetSize,
    });
    this.directories.push(directory);
    const bifrost = new Bifrost({
      metadata: this.metadata,
      logServers: directory.logServers,
      sequencers: directory.sequencers,
      place: directory.place,
      timers: realTimers,
      random: Math.random,
      failoverAfterMs: 300,
      callTimeoutMs: 2_000,
      ...opts,
    });
    return { bifrost, directory };
  }

  /** Output of every process (for failure messages). */
  outputs(): string {
    const procs = [this.metadataProc, ...[...this.logServers.values(), ...this.sequencers.values()].map((m) => m.proc)];
    return procs
      .filter((p): p is Proc => p !== undefined)
      .map((p) => p.output())
      .join('\n');
  }

  async stop(): Promise<void> {
    for (const d of this.directories) d.close();
    await this.cleanup.run();
  }
}
