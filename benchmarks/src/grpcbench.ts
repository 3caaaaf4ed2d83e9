import * as grpc from '@grpc/grpc-js';
import http2 from 'node:http2';
const N = 20000;
const payload = Buffer.alloc(300, 1);
const id = (b: Buffer) => b;
async function grpcBench() {
  const def = { echo: { path: '/t.T/Echo', requestStream: true, responseStream: true, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id } };
  const server = new grpc.Server();
  server.addService(def as any, { echo: (call: any) => { call.on('data', (m: Buffer) => call.write(m)); call.on('end', () => call.end()); } });
  const port = await new Promise<number>((r) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (_e, p) => r(p)));
  const Client = grpc.makeGenericClientConstructor(def as any, 'T');
  const client: any = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const call = client.echo();
  let got = 0; let done!: () => void; const fin = new Promise<void>((r) => (done = r));
  call.on('data', () => { got++; if (got < N) call.write(payload); else done(); });
  const c0 = process.cpuUsage(); const t0 = performance.now();
  call.write(payload); await fin;
  const c = process.cpuUsage(c0); const t = performance.now() - t0;
  console.log(`grpc-js bidi: ${(t * 1000 / N).toFixed(1)} us/roundtrip wall, ${((c.user + c.system) / N).toFixed(1)} us cpu`);
  call.on('error', () => {}); call.end(); client.close(); server.forceShutdown();
}
async function h2Bench() {
  const server = http2.createServer();
  server.on('stream', (s) => { s.respond({ ':status': 200 }); s.on('data', (d) => s.write(d)); s.on('end', () => s.end()); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as any).port;
  const sess = http2.connect(`http://127.0.0.1:${port}`);
  const req = sess.request({ ':method': 'POST', ':path': '/x' });
  let got = 0; let done!: () => void; const fin = new Promise<void>((r) => (done = r));
  req.on('data', () => { got++; if (got < N) req.write(payload); else done(); });
  const c0 = process.cpuUsage(); const t0 = performance.now();
  req.write(payload); await fin;
  const c = process.cpuUsage(c0); const t = performance.now() - t0;
  console.log(`raw http2 bidi: ${(t * 1000 / N).toFixed(1)} us/roundtrip wall, ${((c.user + c.system) / N).toFixed(1)} us cpu`);
  req.on('error', () => {}); req.close(); sess.close(); server.close();
}
await grpcBench(); await h2Bench(); await grpcBench(); await h2Bench();
process.exit(0);
