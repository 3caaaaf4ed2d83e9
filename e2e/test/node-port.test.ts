/**
 * Issue 9 point 8 end to end: the one-process server's node port (the embedded metadata store's gRPC API, which
 * has no authentication yet) listens on loopback unless told otherwise, and an `AddMember` for a node nobody can
 * reach no longer takes the single-member store's quorum away (the new member is a learner until it catches up).
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { GrpcMetadataClient } from '@stead/metadata';
import { Cleanup, ServiceProcess, SteadServer, TOPOLOGY } from '@stead/testing';

const SERVICES = new URL('../services/main.ts', import.meta.url).pathname;

/** Addresses of the IPv4 sockets listening on `port` (from /proc/net/tcp: `0100007F:1F90` is 127.0.0.1:8080). */
function listeningOn(port: number): string[] {
  const found: string[] = [];
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 4 || cols[3] !== '0A') continue; // 0A = LISTEN
    const [ipHex, portHex] = cols[1].split(':');
    if (Number.parseInt(portHex, 16) !== port) continue;
    const bytes = ipHex.match(/../g)!.map((b) => Number.parseInt(b, 16));
    found.push(bytes.reverse().join('.'));
  }
  return found;
}

/** An IPv4 address of this machine that is not loopback (undefined if there is none). */
function externalIPv4(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port, timeout: 2000 });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(false));
  });
}

// Its subject exists in the one-process server only: a cluster has no embedded metadata store on a node port (the
// metadata store is a process of its own, and a worker's node port serves the worker API). The cluster run
// (STEAD_E2E_TOPOLOGY=cluster) skips it.
const describeHere = TOPOLOGY === 'single' ? describe : describe.skip;

describeHere('the one-process server node port', () => {
  const cleanup = new Cleanup();
  afterAll(() => cleanup.run());

  it('listens on loopback by default, even when the other listeners bind to every interface', async () => {
    const server = await SteadServer.start(cleanup, ['--bind-address', '0.0.0.0']);
    expect(listeningOn(server.ports.node)).toEqual(['127.0.0.1']);
    expect(listeningOn(server.ports.ingress)).toEqual(['0.0.0.0']);
    const external = externalIPv4();
    if (external) {
      expect(await canConnect(external, server.ports.ingress)).toBe(true);
      expect(await canConnect(external, server.ports.node)).toBe(false);
    }
    expect(await canConnect('127.0.0.1', server.ports.node)).toBe(true);
    await server.stop();

    // --node-bind-address opens it up on purpose.
    const open = await SteadServer.start(cleanup, ['--node-bind-address', '0.0.0.0']);
    expect(listeningOn(open.ports.node)).toEqual(['0.0.0.0']);
    await open.stop();
  }, 60_000);

  it('AddMember for an unreachable node leaves the store writable, handlers callable and the server restartable', async () => {
    const server = await SteadServer.start(cleanup);
    const svc = await ServiceProcess.start(cleanup, SERVICES);
    const md = new GrpcMetadataClient({ addresses: [`127.0.0.1:${server.ports.node}`], timeoutMs: 8000 });
    cleanup.add(() => md.close());
    const enc = new TextEncoder();

    // TEST-NET-2: nobody answers there.
    const members = await md.addMember('intruder', '198.51.100.7:5122');
    expect(members.map((m) => ({ id: m.nodeId, learner: m.learner }))).toEqual([
      { id: 'intruder', learner: true },
      { id: 'server', learner: false },
    ]);
    const v1 = await md.put('e2e/after-add', enc.encode('1'));
    expect(v1).toBeGreaterThan(0);

    await server.register(svc.uri);
    const echo = async () => {
      const res = await fetch(`${server.ingressUrl}/Test/echo`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ after: 'add-member' }),
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ after: 'add-member' });
    };
    await echo();

    // The data dir now records a two-member configuration; the server must still start on it.
    await server.restart();
    expect(await md.put('e2e/after-restart', enc.encode('2'))).toBeGreaterThan(v1);
    const st = await md.status();
    expect(st).toMatchObject({ role: 'leader', leaderId: 'server' });
    expect(st.members.map((m) => `${m.nodeId}${m.learner ? ' (learner)' : ''}`)).toEqual([
      'intruder (learner)',
      'server',
    ]);
    await echo();

    // The learner can be removed again.
    expect((await md.removeMember('intruder')).map((m) => m.nodeId)).toEqual(['server']);
    expect(await md.put('e2e/after-remove', enc.encode('3'))).toBeGreaterThan(0);
  }, 90_000);
});
