import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { StartupError } from './errors.ts';

/**
 * mTLS between deployables. One {@link GrpcTls} per process holds the cluster CA and this node's certificate and
 * key (reloaded when the files change) and hands out the server credentials of every gRPC listener and the
 * channel credentials of every gRPC client, so that a process has one TLS mode.
 *
 * Modes, staged so that a running cluster switches over one process at a time:
 * - `off`: plaintext listeners and clients.
 * - `allow`: a listener takes plaintext and mTLS on the same port (the first byte of a connection tells: 0x16 is
 *   a TLS handshake); a client speaks mTLS and falls back to plaintext when the peer does not (a peer still off).
 * - `require`: a listener takes only mTLS with a client certificate signed by the cluster CA; clients speak mTLS.
 *
 * Identity: a certificate names its node in a URI SAN `stead://node/<node-id>` (see {@link nodesOfCertificate}).
 */

import type { GrpcTlsMode } from './node-settings.ts';

export type { GrpcTlsMode };

/** The SAN URI prefix that names a node in its certificate. */
export const NODE_URI_PREFIX = 'stead://node/';

/** How often the CA, certificate and key files are read again to pick up a rotation. */
const DEFAULT_RELOAD_MS = 2_000;

export interface GrpcTlsFiles {
  mode: GrpcTlsMode;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  /** How often the files are read again (default 2 s). */
  reloadMs?: number;
  /** Where a reload (or a file that turned invalid) is reported. */
  log?: (level: 'info' | 'error', msg: string, fields: Record<string, unknown>) => void;
}

/** The PEM material of one TLS context, checked to load. */
interface Material {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

/** Reads and checks the three files: a StartupError-ready message when one is missing or unusable. */
function readMaterial(files: { caFile: string; certFile: string; keyFile: string }): Material {
  const read = (what: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (e) {
      throw new Error(`cannot read the gRPC TLS ${what} file ${path}: ${(e as Error).message}`);
    }
  };
  const m = {
    ca: read('CA', files.caFile),
    cert: read('certificate', files.certFile),
    key: read('key', files.keyFile),
  };
  try {
    tls.createSecureContext(m);
  } catch (e) {
    throw new Error(
      `the gRPC TLS files (${files.certFile}, ${files.keyFile}, CA ${files.caFile}) do not form a usable TLS context: ${(e as Error).message}`,
    );
  }
  let cert: X509Certificate;
  let ca: X509Certificate;
  try {
    cert = new X509Certificate(m.cert);
    ca = new X509Certificate(m.ca);
  } catch (e) {
    throw new Error(`the gRPC TLS certificate or CA is not a PEM certificate: ${(e as Error).message}`);
  }
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey))
    throw new Error(`the gRPC TLS certificate ${files.certFile} is not signed by the CA in ${files.caFile}`);
  return m;
}

/**
 * The nodes a certificate names: one per SAN `URI:stead://node/<id>`. An id may end in `*` to name every node
 * whose id starts with what precedes it (`stead://node/prod-sequencer-*`): a certificate shared by the pods of a
 * Deployment, whose names are not known in advance (see {@link certificateNames}).
 */
export function nodesOfCertificate(subjectAltName: string | undefined): string[] {
  const nodes: string[] = [];
  for (const entry of (subjectAltName ?? '').split(/,\s*/)) {
    if (!entry.startsWith('URI:')) continue;
    const uri = entry.slice(4);
    if (uri.startsWith(NODE_URI_PREFIX) && uri.length > NODE_URI_PREFIX.length)
      nodes.push(uri.slice(NODE_URI_PREFIX.length));
  }
  return nodes;
}

/** Does a node name of a certificate (`id`, or `prefix*`) name node `nodeId`? */
export function certificateNames(name: string, nodeId: string): boolean {
  return name.endsWith('*') ? nodeId.startsWith(name.slice(0, -1)) : name === nodeId;
}

/** Server credentials whose secure context follows the reloads of a {@link GrpcTls}. */
class ReloadingServerCredentials extends grpc.ServerCredentials {
  constructor(m: Material) {
    // Client certificates are always asked for and checked against the CA: in `allow` a client whose
    // certificate is refused falls back to plaintext (and is then an unauthenticated peer).
    super({ requestCert: true, rejectUnauthorized: true }, m);
  }
  update(m: Material): void {
    this.updateSecureContextOptions(m);
  }
  _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}

/**
 * Channel credentials that take the latest context at every new connection; in `allow`, a connection whose TLS
 * handshake fails is made again in plaintext (the peer is still `off`).
 */
class ClusterChannelCredentials extends grpc.ChannelCredentials {
  private readonly owner: GrpcTls;
  constructor(owner: GrpcTls) {
    super();
    this.owner = owner;
  }
  _isSecure(): boolean {
    return true;
  }
  _equals(other: grpc.ChannelCredentials): boolean {
    return other === this;
  }
  _createSecureConnector() {
    const owner = this.owner;
    const callCredentials = grpc.credentials.createEmpty();
    return {
      connect: (socket: net.Socket) => owner.connectClient(socket),
      waitForReady: () => Promise.resolve(),
      getCallCredentials: () => callCredentials,
      destroy() {},
    };
  }
}

/** How long a client waits for a TLS handshake (a peer that takes the connection and never answers). */
const HANDSHAKE_TIMEOUT_MS = 10_000;

/** Why a TLS handshake failed, or the TLS socket. */
function handshake(socket: net.Socket, m: Material): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({
      socket,
      ca: m.ca,
      cert: m.cert,
      key: m.key,
      ALPNProtocols: ['h2'],
      // Nodes are reached at pod IPs and changing names: the identity is the certificate's node URI, checked
      // by the server's authorisation; here it is enough that the server's certificate chains to the CA.
      checkServerIdentity: () => undefined,
    });
    const fail = (e: Error) => {
      s.destroy();
      reject(e);
    };
    s.once('error', fail);
    s.once('close', () => reject(new Error('connection closed during the TLS handshake')));
    s.setTimeout(HANDSHAKE_TIMEOUT_MS, () => fail(new Error(`no TLS handshake within ${HANDSHAKE_TIMEOUT_MS} ms`)));
    s.once('secureConnect', () => {
      s.setTimeout(0);
      s.removeListener('error', fail);
      if (!s.authorized) fail(s.authorizationError ?? new Error('server certificate not authorised'));
      else resolve(s);
    });
  });
}

function reconnect(from: net.Socket): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: from.remoteAddress as string, port: from.remotePort as number }, () => {
      s.removeListener('error', reject);
      s.setNoDelay();
      resolve(s);
    });
    s.once('error', reject);
  });
}

export class GrpcTls {
  readonly mode: GrpcTlsMode;
  private material: Material | undefined;
  private readonly serverCreds: ReloadingServerCredentials | undefined;
  private readonly channelCreds: grpc.ChannelCredentials;
  private timer: NodeJS.Timeout | undefined;

  private constructor(mode: GrpcTlsMode, material: Material | undefined) {
    this.mode = mode;
    this.material = material;
    this.serverCreds = material ? new ReloadingServerCredentials(material) : undefined;
    this.channelCreds = material ? new ClusterChannelCredentials(this) : grpc.credentials.createInsecure();
  }

  /** Plaintext everywhere. */
  static off(): GrpcTls {
    return new GrpcTls('off', undefined);
  }

  /**
   * Loads the CA, certificate and key (StartupError when one is missing, unreadable, or they do not fit) and
   * reads them again every `reloadMs`: new connections use the new ones; a file that turns invalid keeps the last
   * good context and is logged.
   */
  static fromFiles(opts: GrpcTlsFiles): GrpcTls {
    if (opts.mode === 'off') return GrpcTls.off();
    const unset = (v: string | undefined) => v === undefined || v === '' || v === 'none';
    const missing = [
      unset(opts.caFile) && '--grpc-tls-ca-file / STEAD_GRPC_TLS_CA_FILE',
      unset(opts.certFile) && '--grpc-tls-cert-file / STEAD_GRPC_TLS_CERT_FILE',
      unset(opts.keyFile) && '--grpc-tls-key-file / STEAD_GRPC_TLS_KEY_FILE',
    ].filter(Boolean);
    if (missing.length > 0)
      throw new StartupError(`--grpc-tls-mode ${opts.mode} needs ${missing.join(', ')} (PEM files) to be set`);
    const files = { caFile: opts.caFile as string, certFile: opts.certFile as string, keyFile: opts.keyFile as string };
    let material: Material;
    try {
      material = readMaterial(files);
    } catch (e) {
      throw new StartupError((e as Error).message);
    }
    const t = new GrpcTls(opts.mode, material);
    t.timer = setInterval(() => t.reload(files, opts.log), opts.reloadMs ?? DEFAULT_RELOAD_MS);
    t.timer.unref();
    return t;
  }

  private reload(
    files: { caFile: string; certFile: string; keyFile: string },
    log: GrpcTlsFiles['log'] = () => {},
  ): void {
    let next: Material;
    try {
      next = readMaterial(files);
    } catch (e) {
      // Report a broken rotation once per change of the problem, not at every poll.
      const problem = (e as Error).message;
      if (this.lastError !== problem)
        log('error', 'gRPC TLS files are invalid; keeping the last good ones', { error: problem });
      this.lastError = problem;
      return;
    }
    this.lastError = undefined;
    const cur = this.material as Material;
    if (cur.ca.equals(next.ca) && cur.cert.equals(next.cert) && cur.key.equals(next.key)) return;
    this.material = next;
    this.serverCreds?.update(next);
    log('info', 'gRPC TLS certificates reloaded', { certFile: files.certFile });
  }
  private lastError: string | undefined;

  /** Credentials of a gRPC client channel to another node. */
  channelCredentials(): grpc.ChannelCredentials {
    return this.channelCreds;
  }

  /** The mTLS server credentials (undefined when off). */
  serverCredentials(): grpc.ServerCredentials | undefined {
    return this.serverCreds;
  }

  /** @internal The client side of one new connection (see ClusterChannelCredentials). */
  async connectClient(socket: net.Socket): Promise<{ socket: net.Socket; secure: boolean }> {
    const m = this.material as Material;
    if (this.mode === 'require') return { socket: await handshake(socket, m), secure: true };
    const remote = { remoteAddress: socket.remoteAddress, remotePort: socket.remotePort } as net.Socket;
    try {
      return { socket: await handshake(socket, m), secure: true };
    } catch {
      // `allow`: the peer does not take our TLS (it is still `off`, or refuses our certificate): plaintext on a
      // new connection, as the failed handshake used the first one up.
      socket.destroy();
      return { socket: await reconnect(remote), secure: false };
    }
  }

  /** Stops reading the files again. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

let processTls: GrpcTls = GrpcTls.off();

/** The process's gRPC TLS (off until {@link setProcessGrpcTls}); what listeners and clients use by default. */
export function processGrpcTls(): GrpcTls {
  return processTls;
}

/** Sets the process's gRPC TLS (done once at start from the settings; see {@link grpcTlsFromSettings}). */
export function setProcessGrpcTls(t: GrpcTls): void {
  if (processTls !== t) processTls.close();
  processTls = t;
}

/** Channel credentials for a client to another node: `tls`, or the process's. */
export function grpcChannelCredentials(tls?: GrpcTls): grpc.ChannelCredentials {
  return (tls ?? processTls).channelCredentials();
}

/** The {@link GrpcTls} of a node's settings (StartupError when the files are missing or unusable). */
export function grpcTlsFromSettings(
  s: { grpcTlsMode: string; grpcTlsCaFile: string; grpcTlsCertFile: string; grpcTlsKeyFile: string },
  log?: GrpcTlsFiles['log'],
): GrpcTls {
  return GrpcTls.fromFiles({
    mode: s.grpcTlsMode as GrpcTlsMode,
    caFile: s.grpcTlsCaFile,
    certFile: s.grpcTlsCertFile,
    keyFile: s.grpcTlsKeyFile,
    log,
  });
}
