/**
 * Issue 9: no SDK frame can stop a node. A real Stead (the one-process server) invokes an endpoint written here
 * (a real h2c server on loopback speaking the service protocol) that answers each attempt with generated frames:
 * random message types, truncated and garbled protobuf, valid commands with hostile field values, frames after End,
 * huge ids, broken framing, resets. Throughout, the server must stay up with /health OK, and every invocation
 * must end: its result (success or failure) is retrievable through attach. An invocation may stay open only
 * when the endpoint's last answer held a suspension (it then legitimately waits, e.g. on an awakeable) or when it
 * is paused (an error asked for it); those are killed through the admin API and must then end too.
 *
 * Seeded (fast-check): the seed is printed, and `INVOKER_FUZZ_SEED=n` replays a run; `INVOKER_FUZZ_INVOCATIONS`
 * changes its size.
 */
import { createServer, type Http2Server, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { newInvocationId, signalId } from '@stead/core';
import { encodeFrame, FrameDecoder } from '@stead/invoker';
import { Cleanup, type SteadUnderTest, startStead, TOPOLOGY, waitFor } from '@stead/testing';
import fc from 'fast-check';

// A fixed seed in CI (the same run every time); INVOKER_FUZZ_SEED=random explores new ones.
const SEED_ENV = process.env.INVOKER_FUZZ_SEED ?? '406940029';
const SEED = SEED_ENV === 'random' ? Date.now() % 2 ** 31 : Number(SEED_ENV);
const INVOCATIONS = Number(process.env.INVOKER_FUZZ_INVOCATIONS ?? 1600);
const CONCURRENCY = 24;
const MAX_ATTEMPTS = 3;

// ---------- what the endpoint sends ----------

/** A protobuf field: varint, string/bytes, or a nested message. */
type Field = [no: number, v: number | bigint | string | Uint8Array | Field[]];

/** One thing written on the response stream. Times are relative to the moment it is sent. */
type Item =
  | { k: 'msg'; type: number; fields: Field[] }
  | { k: 'sleep'; offsetMs: number; id: number }
  | { k: 'raw'; type: number; payload: Uint8Array }
  | { k: 'mutate'; type: number; fields: Field[]; cut: number; flip: number }
  | { k: 'bytes'; bytes: Uint8Array }
  /** A RunCommand and the ProposeRunCompletion for it (what an SDK sends for ctx.run). */
  | { k: 'run'; id: number; ok: boolean };

/** How one attempt is answered. */
interface Answer {
  status: number;
  items: Item[];
  close: 'end' | 'reset';
}

type Scenario = Answer[];

function pb(fields: Field[]): Uint8Array {
  const w = new BinaryWriter();
  for (const [no, v] of fields) {
    if (typeof v === 'number' || typeof v === 'bigint') w.uint32((no << 3) | WireType.Varint).uint64(v);
    else if (typeof v === 'string') w.uint32((no << 3) | WireType.LengthDelimited).string(v);
    else if (v instanceof Uint8Array) w.uint32((no << 3) | WireType.LengthDelimited).bytes(v);
    else w.uint32((no << 3) | WireType.LengthDelimited).bytes(pb(v));
  }
  return w.finish();
}

function encodeItem(item: Item): Uint8Array {
  switch (item.k) {
    case 'msg':
      return encodeFrame(item.type, pb(item.fields));
    case 'sleep':
      return encodeFrame(
        0x040c,
        pb([
          [1, Math.max(0, Date.now() + item.offsetMs)],
          [11, item.id],
        ]),
      );
    case 'raw':
      return encodeFrame(item.type, item.payload);
    case 'mutate': {
      const p = Buffer.from(pb(item.fields));
      if (p.length > 0) p[item.flip % p.length] ^= 1 << (item.flip % 8);
      return encodeFrame(item.type, p.subarray(0, Math.max(0, p.length - item.cut)));
    }
    case 'bytes':
      return item.bytes;
    case 'run':
      return Buffer.concat([
        encodeFrame(0x0411, pb([[11, item.id]])),
        encodeFrame(0x0005, pb([[1, item.id], item.ok ? [14, Buffer.from('"r"')] : [15, failure(500, 'run failed')]])),
      ]);
  }
}

const value = (s: string | Uint8Array): Field[] => [[1, typeof s === 'string' ? Buffer.from(s) : s]];
const failure = (code: number, message: string): Field[] => [
  [1, code],
  [2, message],
];

// Field values: mostly sane, sometimes hostile.
const completionId = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 1, max: 20 }) },
  fc.constant(0),
  fc.constant(2 ** 32 - 1),
);
const huge = fc.integer({ min: 10_000, max: 100_000 }).map((n) => 'x'.repeat(n));
const text = fc.oneof({ weight: 6, arbitrary: fc.string({ maxLength: 12 }) }, fc.constant(''), huge);
const validInvocationId = fc
  .tuple(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.uint8Array({ minLength: 16, maxLength: 16 }))
  .map(([pk, u]) => newInvocationId(pk, () => u).toString());
const invocationId = fc.oneof(
  { weight: 3, arbitrary: validInvocationId },
  fc.constantFrom('inv_1notreallyanid', 'inv_1', '', 'inv_1zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz', 'sign_1AAAA'),
  validInvocationId.map((s) => `${s}x`),
  huge.map((s) => `inv_1${s}`),
  text,
);
const awakeableId = fc.oneof(
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.nat(40))
      .map(([pk, u, n]) =>
        signalId(
          newInvocationId(pk, () => u),
          n,
        ),
      ),
  },
  fc.constantFrom('sign_1notreallyanid', 'prom_1AAAA', 'sign_1', ''),
  text,
);
const target = fc.oneof(
  { weight: 4, arbitrary: fc.constant(['Fuzz', 'leaf'] as const) },
  fc.constant(['Fuzz', 'run'] as const),
  fc.constant(['Nope', 'missing'] as const),
  fc.tuple(text, text),
);
const header = fc.tuple(text, text).map(
  ([k, v]): Field => [
    4,
    [
      [1, k],
      [2, v],
    ],
  ],
);

/** Commands with sane or hostile values, by type. */
const command: fc.Arbitrary<Item> = fc.oneof(
  fc.tuple(fc.boolean(), text).map(
    ([ok, s]): Item => ({
      k: 'msg',
      type: 0x0401,
      fields: ok ? [[14, value(JSON.stringify(s.slice(0, 50)))]] : [[15, failure(500, s)]],
    }),
  ),
  fc.tuple(text, completionId).map(
    ([key, id]): Item => ({
      k: 'msg',
      type: 0x0402,
      fields: [
        [1, key],
        [11, id],
      ],
    }),
  ),
  fc.tuple(text, text).map(
    ([key, v]): Item => ({
      k: 'msg',
      type: 0x0403,
      fields: [
        [1, key],
        [3, value(v)],
      ],
    }),
  ),
  text.map((key): Item => ({ k: 'msg', type: 0x0404, fields: [[1, key]] })),
  fc.constant<Item>({ k: 'msg', type: 0x0405, fields: [] }),
  completionId.map((id): Item => ({ k: 'msg', type: 0x0406, fields: [[11, id]] })),
  fc.tuple(fc.constantFrom(0x0409, 0x040a), text, completionId).map(
    ([type, key, id]): Item => ({
      k: 'msg',
      type,
      fields: [
        [1, key],
        [11, id],
      ],
    }),
  ),
  fc.tuple(text, completionId).map(
    ([key, id]): Item => ({
      k: 'msg',
      type: 0x040b,
      fields: [
        [1, key],
        [2, value('v')],
        [11, id],
      ],
    }),
  ),
  fc
    .tuple(fc.oneof(fc.integer({ min: -2000, max: 300 }), fc.constantFrom(-Date.now(), 1e13)), completionId)
    .map(([offsetMs, id]): Item => ({ k: 'sleep', offsetMs, id })),
  fc.tuple(fc.constantFrom(2n ** 64n - 1n, 253_402_300_800_000n, 0n), completionId).map(
    ([t, id]): Item => ({
      k: 'msg',
      type: 0x040c,
      fields: [
        [1, t],
        [11, id],
      ],
    }),
  ),
  fc
    .tuple(
      fc.boolean(),
      target,
      fc.array(header, { maxLength: 2 }),
      fc.option(text),
      fc.option(text),
      completionId,
      completionId,
    )
    .map(([oneWay, [svc, handler], headers, key, idem, a, b]): Item => {
      const fields: Field[] = [
        [1, svc],
        [2, handler],
        [3, Buffer.from('{}')],
      ];
      if (key !== null) fields.push([oneWay ? 6 : 5, key]);
      if (oneWay) {
        fields.push(...headers.map(([, h]): Field => [5, h]));
        if (idem !== null) fields.push([7, idem]);
        fields.push([10, a]);
        return { k: 'msg', type: 0x040e, fields };
      }
      fields.push(...headers);
      if (idem !== null) fields.push([6, idem]);
      fields.push([10, a], [11, b]);
      return { k: 'msg', type: 0x040d, fields };
    }),
  fc.tuple(invocationId, fc.oneof(fc.nat(20), text)).map(
    ([id, sig]): Item => ({
      k: 'msg',
      type: 0x0410,
      fields: [[1, id], typeof sig === 'number' ? [2, sig] : [3, sig], [4, []]],
    }),
  ),
  completionId.map((id): Item => ({ k: 'msg', type: 0x0411, fields: [[11, id]] })),
  fc.tuple(fc.integer({ min: 1, max: 1000 }), fc.boolean()).map(([id, ok]): Item => ({ k: 'run', id, ok })),
  fc.tuple(fc.constantFrom(0x0412, 0x0413), invocationId, completionId).map(
    ([type, id, c]): Item => ({
      k: 'msg',
      type,
      fields: [
        [1, id],
        [11, c],
      ],
    }),
  ),
  fc.tuple(fc.constantFrom(0x0412, 0x0413), text, text, completionId).map(
    ([type, a, b, c]): Item => ({
      k: 'msg',
      type,
      fields: [
        [
          4,
          [
            [1, a],
            [2, b],
          ],
        ],
        [11, c],
      ],
    }),
  ),
  fc.tuple(awakeableId, fc.boolean()).map(
    ([id, ok]): Item => ({
      k: 'msg',
      type: 0x0414,
      fields: [[1, id], ok ? [2, value('x')] : [3, failure(400, 'no')]],
    }),
  ),
  fc.nat().map((n): Item => ({ k: 'msg', type: 0xfc00 + (n % 0x3ff), fields: [[1, 'custom']] })),
);

const control: fc.Arbitrary<Item> = fc.oneof(
  fc.constant<Item>({ k: 'msg', type: 0x0003, fields: [] }),
  fc
    .tuple(
      fc.array(completionId, { maxLength: 3 }),
      fc.array(fc.nat(20), { maxLength: 2 }),
      fc.array(text, { maxLength: 1 }),
    )
    .map(
      ([c, s, n]): Item => ({
        k: 'msg',
        type: 0x0001,
        fields: [...c.map((x): Field => [1, x]), ...s.map((x): Field => [2, x]), ...n.map((x): Field => [3, x])],
      }),
    ),
  fc.tuple(fc.nat(1000), text, fc.nat(3), fc.option(fc.nat(500))).map(([code, message, behavior, delay]): Item => {
    const fields: Field[] = [
      [1, code],
      [2, message],
      [9, behavior],
    ];
    if (delay !== null) fields.push([8, delay]);
    return { k: 'msg', type: 0x0002, fields };
  }),
  fc.tuple(completionId, fc.boolean()).map(
    ([id, ok]): Item => ({
      k: 'msg',
      type: 0x0005,
      fields: [[1, id], ok ? [14, Buffer.from('"r"')] : [15, failure(500, 'run failed')]],
    }),
  ),
);

const garbage: fc.Arbitrary<Item> = fc.oneof(
  fc
    .tuple(fc.integer({ min: 0, max: 0xffff }), fc.uint8Array({ maxLength: 48 }))
    .map(([type, payload]): Item => ({ k: 'raw', type, payload })),
  fc
    .tuple(
      fc.constantFrom(0x0000, 0x0004, 0x0006, 0x0007, 0x0400, 0x8001, 0x8011, 0xfbff),
      fc.uint8Array({ maxLength: 16 }),
    )
    .map(([type, payload]): Item => ({ k: 'raw', type, payload })),
  fc
    .tuple(fc.oneof(command, control), fc.nat(6), fc.nat(1000))
    .filter(([i]) => i.k === 'msg')
    .map(([i, cut, flip]): Item => ({ ...(i as Extract<Item, { k: 'msg' }>), k: 'mutate', cut, flip })),
  // a frame header announcing more than will come, or more than any limit
  fc.constantFrom<Item>(
    { k: 'bytes', bytes: Buffer.from([0x04, 0x01, 0, 0, 0, 0, 0, 0x40, 1, 2]) },
    { k: 'bytes', bytes: Buffer.from([0x04, 0x01, 0, 0, 0x7f, 0xff, 0xff, 0xff]) },
    { k: 'bytes', bytes: Buffer.from([0x00, 0x03, 0]) },
  ),
);

const item: fc.Arbitrary<Item> = fc.oneof(
  { weight: 6, arbitrary: command },
  { weight: 2, arbitrary: control },
  { weight: 1, arbitrary: garbage },
);

const answer: fc.Arbitrary<Answer> = fc.record({
  status: fc.oneof({ weight: 12, arbitrary: fc.constant(200) }, fc.constantFrom(500, 404, 429)),
  items: fc.array(item, { minLength: 0, maxLength: 8 }),
  close: fc.oneof({ weight: 8, arbitrary: fc.constant<'end'>('end') }, fc.constant<'reset'>('reset')),
});

const scenario: fc.Arbitrary<Scenario> = fc.array(answer, { minLength: 1, maxLength: MAX_ATTEMPTS });

/** What an attempt gets once its scenario is used up, and what child invocations get: a clean ending. */
const CLEAN: Answer = {
  status: 200,
  items: [
    { k: 'msg', type: 0x0401, fields: [[14, value('"ok"')]] },
    { k: 'msg', type: 0x0003, fields: [] },
  ],
  close: 'end',
};

// ---------- the endpoint ----------

interface Stats {
  answers: number;
  frames: number;
  bytes: number;
}

class FuzzEndpoint {
  readonly server: Http2Server;
  readonly stats: Stats = { answers: 0, frames: 0, bytes: 0 };
  /** Attempts seen per invocation id. */
  readonly attempts = new Map<string, number>();
  /** Whether the last answer to an invocation held a suspension frame (the invocation may then wait). */
  readonly lastSuspended = new Map<string, boolean>();
  /** The case each invocation runs, from its input. */
  readonly caseOf = new Map<string, number>();
  private readonly scenarios: Scenario[];

  constructor(scenarios: Scenario[]) {
    this.scenarios = scenarios;
    this.server = createServer();
    this.server.on('stream', (stream, headers) => this.onStream(stream, headers));
    this.server.on('sessionError', () => {});
  }

  async listen(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }

  private onStream(stream: ServerHttp2Stream, headers: Record<string, unknown>): void {
    stream.on('error', () => {});
    const path = String(headers[':path']);
    if (path.endsWith('/discover')) {
      stream.respond({ ':status': 200, 'content-type': 'application/vnd.restate.endpointmanifest.v3+json' });
      stream.end(
        JSON.stringify({
          protocolMode: 'BIDI_STREAM',
          minProtocolVersion: 5,
          maxProtocolVersion: 6,
          services: [{ name: 'Fuzz', ty: 'SERVICE', handlers: [{ name: 'run' }, { name: 'leaf' }] }],
        }),
      );
      return;
    }
    const contentType = String(headers['content-type'] ?? 'application/vnd.restate.invocation.v5');
    const decoder = new FrameDecoder();
    let started = false;
    let id = '';
    stream.on('data', (chunk: Buffer) => {
      if (started) return;
      let frames: ReturnType<FrameDecoder['push']>;
      try {
        frames = decoder.push(chunk);
      } catch {
        stream.close();
        return;
      }
      for (const f of frames) {
        if (f.type === 0x0000) id = readString(f.payload, 2);
        if (f.type === 0x0400 && !started) {
          started = true;
          this.answer(stream, contentType, id, readInputCase(f.payload));
        }
      }
    });
  }

  private answer(stream: ServerHttp2Stream, contentType: string, id: string, inputCase: number | undefined): void {
    const attempt = this.attempts.get(id) ?? 0;
    this.attempts.set(id, attempt + 1);
    if (inputCase !== undefined) this.caseOf.set(id, inputCase);
    const sc = inputCase === undefined ? undefined : this.scenarios[inputCase];
    const a = sc?.[attempt] ?? CLEAN;
    this.stats.answers++;
    if (stream.destroyed) return;
    if (a.status !== 200) {
      stream.respond({ ':status': a.status });
      stream.end('no');
      this.lastSuspended.set(id, false);
      return;
    }
    stream.respond({ ':status': 200, 'content-type': contentType });
    for (const it of a.items) {
      const b = encodeItem(it);
      this.stats.frames++;
      this.stats.bytes += b.length;
      stream.write(b);
    }
    // Frames after the first Suspension are never read, and a raw or mutated one may still parse as one.
    this.lastSuspended.set(
      id,
      a.items.some((it) => (it.k === 'msg' || it.k === 'raw' || it.k === 'mutate') && it.type === 0x0001),
    );
    if (a.close === 'reset') stream.close(2 /* INTERNAL_ERROR */);
    else stream.end();
  }
}

/** A string field of a message (top level). */
function readString(payload: Uint8Array, no: number): string {
  try {
    const r = new BinaryReader(payload);
    while (r.pos < r.len) {
      const [n, wt] = r.tag();
      if (n === no && wt === WireType.LengthDelimited) return r.string();
      r.skip(wt, n);
    }
  } catch {
    // not a start message we can read
  }
  return '';
}

/** The case number in an invocation's input ({"case": n}), if it is one of ours. */
function readInputCase(payload: Uint8Array): number | undefined {
  try {
    const r = new BinaryReader(payload);
    while (r.pos < r.len) {
      const [n, wt] = r.tag();
      if (n === 14 && wt === WireType.LengthDelimited) {
        const v = new BinaryReader(r.bytes());
        while (v.pos < v.len) {
          const [m, vt] = v.tag();
          if (m === 1 && vt === WireType.LengthDelimited) {
            const c = JSON.parse(v.string()) as { case?: unknown };
            return typeof c?.case === 'number' ? c.case : undefined;
          }
          v.skip(vt, m);
        }
      }
      r.skip(wt, n);
    }
  } catch {
    // not ours
  }
  return undefined;
}

// ---------- the test ----------

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A scenario as text, for reproducing a failure by hand. */
function show(sc: Scenario): string {
  return JSON.stringify(sc, (_k, v) => {
    if (v instanceof Uint8Array || (v && v.type === 'Buffer')) return `0x${Buffer.from(v.data ?? v).toString('hex')}`;
    if (typeof v === 'bigint') return `${v}n`;
    if (typeof v === 'string' && v.length > 100) return `${v.slice(0, 20)}…(${v.length} chars)`;
    return v;
  });
}

interface Outcome {
  invocationId: string;
  status: number;
  code?: number;
  message?: string;
  killed?: boolean;
}

// What the frames reach is the invoker (frames in; commands for the log, or a refusal, out) and the partition state
// machine that applies those commands: the same code in a worker as in the one-process server, given the same
// bytes. A cluster adds the transports (gRPC, the replicated log), which carry those commands as opaque records and
// are tested under faults by the cluster run of the other suites, by replicated-log and by cluster-faults. So this
// suite runs in the single-topology run of the e2e suites, and the cluster run (STEAD_E2E_TOPOLOGY=cluster) skips
// it rather than run its 1,600 invocations twice.
const describeHere = TOPOLOGY === 'single' ? describe : describe.skip;

describeHere('invoker fuzz: generated frames against a real stead-server', () => {
  const cleanup = new Cleanup();
  let server: SteadUnderTest;
  let endpoint: FuzzEndpoint;
  const scenarios = fc.sample(scenario, { seed: SEED, numRuns: INVOCATIONS });

  beforeAll(async () => {
    endpoint = new FuzzEndpoint(scenarios);
    const uri = await endpoint.listen();
    cleanup.add(() => endpoint.close());
    process.env.STEAD_LOG_LEVEL ??= 'error';
    server = await startStead(cleanup, [
      '--retry-max-attempts',
      String(MAX_ATTEMPTS),
      // Killed rather than paused at max attempts, so that every invocation ends by itself.
      '--retry-on-max-attempts',
      'kill',
      '--retry-initial-interval',
      '10ms',
      '--retry-max-interval',
      '100ms',
      '--inactivity-timeout',
      '2s',
      '--abort-timeout',
      '1s',
    ]);
    await server.register(uri);
  }, 120_000);
  afterAll(() => cleanup.run());

  const paused = async (invocationId: string): Promise<boolean> => {
    const res = await fetch(`${server.adminUrl}/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ query: `SELECT status FROM sys_invocation WHERE id = '${invocationId}'` }),
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { rows: { status: string }[] }).rows[0]?.status === 'paused';
  };

  const attach = async (invocationId: string, timeoutMs: number): Promise<Outcome | undefined> => {
    try {
      const res = await fetch(`${server.ingressUrl}/restate/invocation/${invocationId}/attach`, {
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await res.text();
      if (res.status === 200) return { invocationId, status: 200 };
      // A failure whose code is a status without a body (204, 304) arrives without one.
      const body = (text === '' ? { code: res.status } : JSON.parse(text)) as { code?: number; message?: string };
      return { invocationId, status: res.status, code: body.code, message: body.message };
    } catch (err) {
      if ((err as Error).name === 'TimeoutError') return undefined;
      throw err;
    }
  };

  it('keeps the server up, /health OK, and ends every invocation', async () => {
    const started = Date.now();
    console.log(`invoker fuzz: seed ${SEED} (replay: INVOKER_FUZZ_SEED=${SEED}), ${INVOCATIONS} invocations`);
    const inFlight = new Set<number>();
    const fatal = () =>
      [
        `seed ${SEED}: stead-server stopped or /health failed while these cases were in flight:`,
        ...[...inFlight].map((i) => `case ${i}: ${show(scenarios[i])}`),
        server.output(),
      ].join('\n');

    // /health watcher: the server (every worker) must answer OK all the time (within 5 s, however busy).
    const healthyAt = async (metricsUrl: string) => {
      try {
        const res = await fetch(`${metricsUrl}/health`, { signal: AbortSignal.timeout(5000) });
        await res.arrayBuffer();
        return res.ok;
      } catch {
        return false;
      }
    };
    const healthy = async () => (await Promise.all(server.metricsUrls.map(healthyAt))).every(Boolean);
    const health = { checks: 0, failures: [] as string[] };
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        health.checks++;
        if (!server.running()) health.failures.push(`process exited at +${Date.now() - started}ms`);
        else if (!(await healthy())) health.failures.push(`/health failed at +${Date.now() - started}ms`);
        if (health.failures.length > 0) return;
        await sleep(250);
      }
    })();

    const outcomes: (Outcome | undefined)[] = new Array(INVOCATIONS);
    const ids: string[] = new Array(INVOCATIONS);
    let next = 0;
    const worker = async () => {
      while (next < INVOCATIONS && health.failures.length === 0) {
        const i = next++;
        inFlight.add(i);
        const res = await fetch(`${server.ingressUrl}/Fuzz/run/send`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': `fuzz-${SEED}-${i}` },
          body: JSON.stringify({ case: i }),
          signal: AbortSignal.timeout(20_000),
        }).catch((err: Error) => {
          throw new Error(`${err.message}\n${fatal()}`);
        });
        expect(res.status).toBe(202);
        ids[i] = ((await res.json()) as { invocationId: string }).invocationId;
        outcomes[i] = await attach(ids[i], 3000).catch((err: Error) => {
          throw new Error(`${err.message}\n${fatal()}`);
        });
        inFlight.delete(i);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    if (health.failures.length > 0) throw new Error(`${health.failures.join('; ')}\n${fatal()}`);

    // Open ones get more time; whatever stays open must be waiting after a suspension, or paused because the
    // endpoint's error asked for it (ErrorMessage behavior PAUSE). Those are killed.
    const open = () => outcomes.flatMap((o, i) => (o ? [] : [i]));
    const deadline = Date.now() + 15_000;
    while (open().length > 0 && Date.now() < deadline) {
      await Promise.all(open().map(async (i) => (outcomes[i] = await attach(ids[i], 2000))));
    }
    const stuck: string[] = [];
    let killedCount = 0;
    for (const i of open()) {
      if (!endpoint.lastSuspended.get(ids[i]) && !(await paused(ids[i]))) {
        stuck.push(
          `seed ${SEED} case ${i} (${ids[i]}, ${endpoint.attempts.get(ids[i]) ?? 0} attempts): ${show(scenarios[i])}`,
        );
        continue;
      }
      const kill = await fetch(`${server.adminUrl}/invocations/${ids[i]}/kill`, { method: 'PATCH' });
      expect([200, 409]).toContain(kill.status);
      const o = await waitFor(() => attach(ids[i], 2000), {
        timeoutMs: 10_000,
        what: `killed ${ids[i]} (seed ${SEED} case ${i}) to end`,
      });
      outcomes[i] = { ...o, killed: true };
      killedCount++;
    }
    watching = false;
    await watcher;
    expect(stuck).toEqual([]);
    expect(health.failures).toEqual([]);
    expect(server.running()).toBe(true);
    expect(outcomes.filter((o) => o === undefined)).toEqual([]);

    const byCode = new Map<string, number>();
    const reasons = new Map<string, number>();
    for (const o of outcomes as Outcome[]) {
      const key = o.killed ? `killed(${o.code})` : o.status === 200 ? 'ok' : String(o.code);
      byCode.set(key, (byCode.get(key) ?? 0) + 1);
      if (o.code === 571) {
        const reason = (o.message ?? '')
          .replace(/^protocol violation: /, '')
          .replace(/'[^']*'|\d+/g, '…')
          .slice(0, 70);
        reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
      }
    }
    const top = [...reasons].sort((a, b) => b[1] - a[1]).slice(0, 12);
    console.log(
      [
        `invoker fuzz: seed ${SEED}, ${INVOCATIONS} invocations in ${Date.now() - started}ms`,
        `endpoint answered ${endpoint.stats.answers} attempts (frame sequences) with ${endpoint.stats.frames} frames, ${endpoint.stats.bytes} bytes`,
        `outcomes: ${[...byCode].map(([k, n]) => `${k}=${n}`).join(' ')} (killed after suspending or pausing: ${killedCount})`,
        `/health checks: ${health.checks}, all OK`,
        'most frequent protocol violations:',
        ...top.map(([r, n]) => `  ${n} × ${r}`),
      ].join('\n'),
    );
    expect(endpoint.stats.answers).toBeGreaterThanOrEqual(INVOCATIONS);
  }, 150_000);

  it('restarts on the same data directory and still serves', async () => {
    await server.restart();
    const res = await fetch(`${server.ingressUrl}/Fuzz/leaf`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
      signal: AbortSignal.timeout(20_000),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toBe('ok');
    expect(await server.healthy()).toBe(true);
  }, 60_000);
});
