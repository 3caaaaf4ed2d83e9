import { describe, expect, it } from '@jest/globals';
import { NodeLifecycle, StartupError } from '../src/index.ts';

function lifecycle(shutdownTimeoutMs: number) {
  const lines: Record<string, unknown>[] = [];
  const node = new NodeLifecycle({
    component: 'test',
    fields: { node: 'n1' },
    shutdownTimeoutMs,
    write: (line) => lines.push(JSON.parse(line)),
  });
  return { node, lines };
}

describe('NodeLifecycle', () => {
  it('closes in reverse order of start and logs the reason', async () => {
    const { node, lines } = lifecycle(5_000);
    const closed: string[] = [];
    for (const name of ['storage', 'grpc', 'probes']) node.onClose(name, async () => void closed.push(name));
    expect(node.stopping).toBe(false);
    const first = node.shutdown('SIGTERM');
    expect(node.stopping).toBe(true);
    expect(node.shutdown('SIGINT')).toBe(first);
    expect(await first).toBe('stopped');
    expect(closed).toEqual(['probes', 'grpc', 'storage']);
    expect(lines.map((l) => [l.level, l.msg, l.reason, l.node, l.component])).toEqual([
      ['info', 'shutting down', 'SIGTERM', 'n1', 'test'],
      ['info', 'stopped', undefined, 'n1', 'test'],
    ]);
  });

  it('finishes after the deadline when a close step never resolves', async () => {
    const { node, lines } = lifecycle(200);
    const closed: string[] = [];
    node.onClose('first', () => void closed.push('first'));
    node.onClose('stuck', () => new Promise<void>(() => {}));
    const started = Date.now();
    expect(await node.shutdown('SIGTERM')).toBe('timed-out');
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(closed).toEqual([]);
    expect(lines.at(-1)).toMatchObject({ level: 'error', msg: 'shutdown timed out; exiting', timeoutMs: 200 });
  });

  it('rejects the shutdown when a close step fails', async () => {
    const { node } = lifecycle(5_000);
    node.onClose('broken', () => Promise.reject(new Error('disk gone')));
    await expect(node.shutdown('SIGTERM')).rejects.toThrow('disk gone');
  });

  it('turns a failed start step into one StartupError after closing what runs', async () => {
    const { node } = lifecycle(5_000);
    const closed: string[] = [];
    node.onClose('storage', () => void closed.push('storage'));
    const failing = node.start(() => Promise.reject(new Error('EADDRINUSE')), 'cannot serve gRPC on 0.0.0.0:5122');
    await expect(failing).rejects.toThrow(new StartupError('cannot serve gRPC on 0.0.0.0:5122: EADDRINUSE'));
    await expect(failing).rejects.toBeInstanceOf(StartupError);
    expect(closed).toEqual(['storage']);
    const refusal = node.start(() => Promise.reject(new StartupError('foreign data dir')), 'ignored');
    await expect(refusal).rejects.toThrow(/^foreign data dir$/);
  });

  it('serves /ready only while not stopping', async () => {
    const { createRegistry } = await import('../src/index.ts');
    const { node } = lifecycle(5_000);
    const probes = await node.serveProbes({
      host: '127.0.0.1',
      port: 0,
      registry: createRegistry(),
      ready: () => true,
    });
    const ready = () => fetch(`http://127.0.0.1:${probes.port}/ready`).then((r) => r.status);
    expect(await ready()).toBe(200);
    expect((await fetch(`http://127.0.0.1:${probes.port}/metrics`)).status).toBe(200);
    await node.shutdown('test');
    await expect(ready()).rejects.toThrow();
  });
});
