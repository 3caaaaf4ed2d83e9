import { type Cleanup, freePort, NODE, Proc } from './process.ts';
import { ManagedProcess, portOpen } from './servers.ts';

/**
 * A real S3-compatible endpoint for tests: s3rver in a child process on a free loopback port, its objects in a
 * temp directory, with one bucket. `stop()`/`kill9()` make the endpoint unreachable; `restart()` brings it back
 * on the same port over the same directory (the objects stay). Cleanup stops it and removes the directory.
 * s3rver checks request signatures against its fixed credentials (`S3RVER`/`S3RVER`).
 */
export class S3Server extends ManagedProcess {
  readonly port: number;
  readonly dir: string;
  readonly bucket: string;
  readonly accessKey = 'S3RVER';
  readonly secretKey = 'S3RVER';
  /** s3rver ignores the region, but signatures carry one: the clients of the tests use this. */
  readonly region = 'us-east-1';

  /** The address it listens on (127.0.0.1 unless the test gave another, e.g. a bridge for pods). */
  readonly host: string;

  private constructor(port: number, dir: string, bucket: string, host: string) {
    super();
    this.host = host;
    this.port = port;
    this.dir = dir;
    this.bucket = bucket;
  }

  static async start(cleanup: Cleanup, bucket = 'stead-test', opts: { host?: string } = {}): Promise<S3Server> {
    const s = new S3Server(await freePort(), cleanup.tempDir('stead-s3-'), bucket, opts.host ?? '127.0.0.1');
    // Added after the temp dir: cleanups run last first, so the server stops before its directory goes.
    cleanup.add(() => s.stop());
    await s.start();
    return s;
  }

  get endpoint(): string {
    return `http://${this.host}:${this.port}`;
  }

  async start(): Promise<void> {
    const script = new URL('./s3rver-main.ts', import.meta.url).pathname;
    const proc = new Proc('s3rver', NODE, [
      '--disable-warning=ExperimentalWarning',
      script,
      '--port',
      String(this.port),
      '--dir',
      this.dir,
      '--bucket',
      this.bucket,
      '--address',
      this.host,
    ]);
    await this.launch(proc, async () => proc.lines.includes('s3rver ready') && (await portOpen(this.port, this.host)), {
      timeoutMs: 15_000,
      what: 's3rver to listen',
      exited: 's3rver exited during start',
    });
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }
}
