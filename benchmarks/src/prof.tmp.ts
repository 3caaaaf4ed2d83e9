import { Agent } from 'node:http';
import { Cleanup, ServiceProcess } from '@stead/testing';
import { post } from './load.ts';
import { register, startStead } from './targets.ts';
const c = new Cleanup();
try {
  const t = await startStead(c, { NODE_OPTIONS: '--cpu-prof --cpu-prof-dir=/tmp/prof' });
  const svc = await ServiceProcess.start(c, new URL('./service.ts', import.meta.url).pathname);
  await register(t, svc.uri);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  let next = 0;
  const N = Number(process.argv[2] ?? 100000);
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (next < N) { next++; await post(agent, new URL(`${t.ingress}/Bench/steps/send?delay=1h`), '1', 30000); }
  }));
  agent.destroy();
  for (let i = 0; i < 4; i++) {
    const t0 = performance.now();
    const r = await fetch(`${t.admin}/query`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify({ query: 'select status, count(*) from sys_invocation group by status' }) });
    console.log(r.status, (performance.now() - t0).toFixed(0), 'ms', r.headers.get('server-timing'), await r.text());
  }
} finally { await c.run(); }
