import type { Member } from '@stead/raft';
import type { GrpcTls } from '@stead/runtime';
import { GrpcMetadataClient, LocalMetadataClient, type MetadataClient } from './client.ts';
import { MetadataError } from './errors.ts';
import { GrpcRaftTransport, serveMetadata } from './grpc.ts';
import type { Logger } from './log.ts';
import { MetadataNode, type MetadataNodeOptions } from './node.ts';

export interface MetadataStoreOptions extends Omit<MetadataNodeOptions, 'peers' | 'transport'> {
  /** Members to bootstrap with; `[self]` (or omitted) for the single-member store of the one-process server. */
  readonly peers?: readonly Member[];
  /** Serve gRPC (client API + Raft traffic) on this port of `grpcHost` (0 = any free port). */
  readonly grpcPort?: number;
  readonly grpcHost?: string;
  readonly logger?: Logger;
  /** gRPC TLS of the listener, the Raft transport and the peer checks (default: the process's). */
  readonly tls?: GrpcTls;
}

export interface MetadataStore {
  readonly node: MetadataNode;
  /** In-process client of this member (retries while a leader is being elected). */
  readonly client: MetadataClient;
  /** Bound gRPC port when `grpcPort` was given. */
  readonly grpcPort: number | undefined;
  close(opts?: { handOver?: boolean }): Promise<void>;
}

/**
 * Starts a metadata store member in this process. With no peers (or only itself) it is a single-member store
 * that elects itself at once; with peers it joins their Raft group over gRPC.
 *
 *   const store = await createMetadataStore({ dataDir: './stead-data/metadata', nodeId: '1' });
 *   await store.client.put('nodes', bytes, Precondition.doesNotExist);
 */
export async function createMetadataStore(opts: MetadataStoreOptions): Promise<MetadataStore> {
  const peers = opts.peers && opts.peers.length > 0 ? opts.peers : [{ id: opts.nodeId, addr: opts.address ?? '' }];
  const needsNetwork = peers.length > 1 || opts.join === true || opts.grpcPort !== undefined;
  const transport = needsNetwork
    ? new GrpcRaftTransport({
        clusterName: opts.clusterName ?? 'stead',
        nodeId: opts.nodeId,
        address: opts.address ?? peers.find((p) => p.id === opts.nodeId)?.addr ?? '',
        logger: opts.logger,
        tls: opts.tls,
      })
    : undefined;
  const others = peers.filter((p) => p.id !== opts.nodeId && p.addr);
  const verifyClusterId = async (stored: string) => {
    // A data dir from another cluster must not join this one: ask the peers which cluster they form.
    const answers = await Promise.all(
      others.map(async (p) => {
        const c = new GrpcMetadataClient({
          addresses: [p.addr],
          timeoutMs: 1500,
          attemptTimeoutMs: 1500,
          tls: opts.tls,
        });
        try {
          return { peer: p, id: (await c.status(p.addr)).clusterId };
        } catch {
          return { peer: p, id: '' };
        } finally {
          await c.close();
        }
      }),
    );
    const foreign = answers.filter((a) => a.id !== '' && a.id !== stored);
    if (foreign.length > 0) {
      throw new MetadataError(
        'data-dir-mismatch',
        `data dir ${opts.dataDir} belongs to metadata cluster id ${stored}, but ${foreign
          .map((a) => `member ${a.peer.id} (${a.peer.addr})`)
          .join(' and ')} belong${foreign.length === 1 ? 's' : ''} to cluster id ${foreign[0].id}; refusing to start ` +
          '(this data dir was written by another cluster; use an empty data dir and --join to add this member)',
      );
    }
  };
  const node = await MetadataNode.start({ ...opts, peers, transport, verifyClusterId });
  if (transport) transport.clusterId = () => node.clusterId;
  let server: Awaited<ReturnType<typeof serveMetadata>> | undefined;
  try {
    if (opts.grpcPort !== undefined) {
      server = await serveMetadata(node, {
        host: opts.grpcHost,
        port: opts.grpcPort,
        logger: opts.logger,
        tls: opts.tls,
      });
    }
  } catch (e) {
    await node.close();
    throw e;
  }
  const client = new LocalMetadataClient(node);
  return {
    node,
    client,
    grpcPort: server?.port,
    async close(closeOpts = {}) {
      await node.close(closeOpts);
      await server?.close();
    },
  };
}
