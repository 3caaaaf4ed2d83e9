// The S3-compatible server of the tests (s3rver, a pure JS S3 server keeping its objects in a directory), run as
// a child process so that a test can stop, kill and restart it like a real bucket endpoint going away.
// Usage: node s3rver-main.ts --port N --dir DIR --bucket NAME [--address IP]. Prints "s3rver ready" once it listens.
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';

interface S3rverInstance {
  run(): Promise<unknown>;
  close(): Promise<void>;
}
type S3rverClass = new (opts: {
  address: string;
  port: number;
  directory: string;
  silent: boolean;
  vhostBuckets: boolean;
  configureBuckets: { name: string; configs: string[] }[];
}) => S3rverInstance;

// s3rver is CommonJS without type declarations: loaded through require with the little of it used here typed.
const S3rver = createRequire(import.meta.url)('s3rver') as S3rverClass;

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    dir: { type: 'string' },
    bucket: { type: 'string' },
    address: { type: 'string', default: '127.0.0.1' },
  },
});
if (!values.port || !values.dir || !values.bucket) {
  console.error('usage: s3rver-main.ts --port N --dir DIR --bucket NAME');
  process.exit(2);
}
const server = new S3rver({
  address: values.address ?? '127.0.0.1',
  port: Number(values.port),
  directory: values.dir,
  silent: true,
  // Clients address the bucket in the path (a loopback IP has no bucket subdomains).
  vhostBuckets: false,
  // Creating an existing bucket is a no-op: a restart over the same directory keeps the objects.
  configureBuckets: [{ name: values.bucket, configs: [] }],
});
await server.run();
console.log('s3rver ready');
const stop = () => {
  server.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
