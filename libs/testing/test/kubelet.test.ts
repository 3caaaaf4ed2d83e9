import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cleanup, expandVars, Kubelet, parseManifests, waitFor } from '../src/index.ts';

// A pod that writes its name into its volume (once), serves what it knows on 5123, asks its peer pod by DNS
// name on /peer, and records SIGTERM in its volume before it exits.
const POD_MAIN = `
const http = require('http'); const fs = require('fs'); const os = require('os');
const f = '/var/lib/demo/first-start';
if (!fs.existsSync(f)) fs.writeFileSync(f, process.env.POD_NAME + ' at ' + process.env.ADDR);
process.on('SIGTERM', () => { fs.writeFileSync('/var/lib/demo/terminated', 'yes'); process.exit(0); });
http.createServer(async (q, r) => {
  if (q.url === '/peer') {
    try { r.end(await (await fetch('http://' + process.env.PEER + ':5123/')).text()); } catch (e) { r.end('ERR ' + e.message); }
    return;
  }
  r.end(JSON.stringify({ host: os.hostname(), first: fs.readFileSync(f, 'utf8'), secret: process.env.TOKEN, file: fs.readFileSync('/etc/demo/secret/token.txt', 'utf8'), links: process.env.DEMO_SERVICE_HOST ?? null }));
}).listen(5123, '0.0.0.0');
`;

function manifests(replicas: number): string {
  return `
apiVersion: v1
kind: Secret
metadata: {name: demo}
data: {token: ${Buffer.from('s3cret').toString('base64')}}
---
apiVersion: v1
kind: Service
metadata: {name: demo}
spec: {clusterIP: None, selector: {app: demo}, ports: [{name: http, port: 5123}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: demo}
spec:
  replicas: ${replicas}
  serviceName: demo
  template:
    metadata: {labels: {app: demo}}
    spec:
      enableServiceLinks: false
      terminationGracePeriodSeconds: 10
      containers:
        - name: main
          command: [${JSON.stringify(process.execPath)}, -e, ${JSON.stringify(POD_MAIN)}]
          env:
            - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
            - {name: NS, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
            - {name: ADDR, value: "$(POD_NAME).demo.$(NS).svc.cluster.local"}
            - {name: PEER, value: "demo-0.demo.$(NS).svc.cluster.local"}
            - {name: TOKEN, valueFrom: {secretKeyRef: {name: demo, key: token}}}
          ports: [{name: http, containerPort: 5123}]
          readinessProbe: {httpGet: {path: /, port: http}}
          lifecycle: {preStop: {exec: {command: [sh, -c, "echo stopping > /var/lib/demo/prestop"]}}}
          volumeMounts: [{name: data, mountPath: /var/lib/demo}, {name: creds, mountPath: /etc/demo/secret}]
      volumes: [{name: creds, secret: {secretName: demo, items: [{key: token, path: token.txt}]}}]
  volumeClaimTemplates: [{metadata: {name: data}}]
`;
}

const get = async (url: string) => (await fetch(url, { signal: AbortSignal.timeout(5000) })).text();

test('expandVars follows Kubernetes: defined variables replaced, $$ escapes, unknown ones kept', () => {
  expect(expandVars('$(A).$(B):$$(A) $(C)', { A: 'x', B: 'y' })).toBe('x.y:$(A) $(C)');
});

test('parseManifests keeps the objects of a multi-document text and drops empty documents', () => {
  const objs = parseManifests('---\n# only a comment\n---\napiVersion: v1\nkind: Service\nmetadata: {name: a}\n');
  expect(objs.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(['Service/a']);
});

describe('Kubelet', () => {
  const cleanup = new Cleanup();
  afterAll(() => cleanup.run());

  test('runs StatefulSet pods with their own address, DNS names, host name, PVC and secrets; scales down with preStop and SIGTERM', async () => {
    const kubelet = Kubelet.start(cleanup, { namespace: 'demo-ns' });
    await kubelet.apply(parseManifests(manifests(2)), 30_000);
    const pods = kubelet.view().sort((a, b) => a.ordinal - b.ordinal);
    expect(pods.map((p) => [p.name, p.ready])).toEqual([
      ['demo-0', true],
      ['demo-1', true],
    ]);
    expect(pods[0].ip).not.toBe(pods[1].ip);
    const one = JSON.parse(await get(`http://${pods[1].ip}:5123/`));
    expect(one).toEqual({
      host: 'demo-1',
      first: 'demo-1 at demo-1.demo.demo-ns.svc.cluster.local',
      secret: 's3cret',
      // A Secret volume at a path missing on this machine (made in an overlay of /etc, whose hosts file the
      // DNS name below still needs).
      file: 's3cret',
      links: null,
    });
    // demo-1 reaches demo-0 by its DNS name, over the bridge.
    expect(JSON.parse(await get(`http://${pods[1].ip}:5123/peer`)).host).toBe('demo-0');

    // A crash: the container is restarted with the same address and the same volume.
    kubelet.signal('demo-1', 'SIGKILL');
    const restarted = async () => kubelet.view().find((p) => p.name === 'demo-1' && p.restarts === 1 && p.ready);
    await waitFor(restarted, { timeoutMs: 15_000, what: 'demo-1 restarted' });
    expect(JSON.parse(await get(`http://${pods[1].ip}:5123/`)).first).toBe(
      'demo-1 at demo-1.demo.demo-ns.svc.cluster.local',
    );

    // Scale down: demo-1 gets its preStop hook, then SIGTERM; its namespace and veth are gone afterwards.
    const netnsBefore = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
    expect(netnsBefore).toMatch(/-demo-1\b/);
    await kubelet.apply(parseManifests(manifests(1)), 30_000);
    expect(kubelet.view().map((p) => p.name)).toEqual(['demo-0']);
    // The crash, then the hook and SIGTERM of the scale-down, in that order; the SIGTERM handler exits 0.
    expect(kubelet.events().map((e) => [e.pod, e.kind, e.code])).toEqual([
      ['demo-1', 'exit', null],
      ['demo-1', 'preStop', 0],
      ['demo-1', 'exit', 0],
    ]);
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toMatch(/-demo-1\b/);
    // Back up: demo-1 returns on the same PVC, which holds what the preStop hook and the SIGTERM handler wrote.
    await kubelet.apply(parseManifests(manifests(2)), 30_000);
    const back = kubelet.view().find((p) => p.name === 'demo-1')!;
    expect(back.ip).toBe(pods[1].ip);
    const pvc = kubelet.claimDir('demo-1', 'data');
    expect(readFileSync(join(pvc, 'prestop'), 'utf8')).toBe('stopping\n');
    expect(readFileSync(join(pvc, 'terminated'), 'utf8')).toBe('yes');
    await kubelet.shutdown();
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toMatch(/-demo-[01]\b/);
  }, 90_000);
});
