/**
 * The invoker's frame validation: every message an endpoint may send is parsed strictly and checked before
 * anything reaches the partition log; whatever it accepts, the journal decoders the state machine uses read
 * without throwing.
 */
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { newInvocationId, signalId } from '@stead/core';
import fc from 'fast-check';
import * as J from '../src/journal.ts';
import { AttemptChecker, checkMessage, MAX_TIME_MS, PROTOCOL_VIOLATION, ProtocolViolation } from '../src/validate.ts';

type F = [no: number, v: number | bigint | string | Uint8Array | F[]];

/** Encodes fields: numbers/bigints as varints, strings/bytes as length-delimited, arrays as nested messages. */
function pb(fields: F[]): Uint8Array {
  const w = new BinaryWriter();
  for (const [no, v] of fields) {
    if (typeof v === 'number' || typeof v === 'bigint') w.uint32((no << 3) | WireType.Varint).uint64(v);
    else if (typeof v === 'string') w.uint32((no << 3) | WireType.LengthDelimited).string(v);
    else if (v instanceof Uint8Array) w.uint32((no << 3) | WireType.LengthDelimited).bytes(v);
    else w.uint32((no << 3) | WireType.LengthDelimited).bytes(pb(v));
  }
  return w.finish();
}

const value = (s: string): F[] => [[1, Buffer.from(s)]];
const invId = newInvocationId(42n).toString();

function violation(type: number, payload: Uint8Array): string {
  try {
    checkMessage(type, payload);
  } catch (err) {
    expect(err).toBeInstanceOf(ProtocolViolation);
    expect((err as ProtocolViolation).code).toBe(PROTOCOL_VIOLATION);
    return (err as Error).message;
  }
  throw new Error(`type 0x${type.toString(16)} was accepted`);
}

describe('checkMessage', () => {
  it('accepts the commands an SDK writes', () => {
    const ok: [number, F[]][] = [
      [0x0401, [[14, value('"hi"')]]],
      [
        0x0401,
        [
          [
            15,
            [
              [1, 500],
              [2, 'boom'],
            ],
          ],
        ],
      ],
      [
        0x0402,
        [
          [1, Buffer.from('k')],
          [11, 1],
        ],
      ],
      [
        0x0403,
        [
          [1, Buffer.from('k')],
          [3, value('1')],
        ],
      ],
      [0x0404, [[1, Buffer.from('k')]]],
      [0x0405, []],
      [0x0406, [[11, 3]]],
      [
        0x0407,
        [
          [1, Buffer.from('k')],
          [13, []],
        ],
      ],
      [0x0408, [[14, [[1, Buffer.from('a')]]]]],
      [
        0x0409,
        [
          [1, 'p'],
          [11, 4],
        ],
      ],
      [
        0x040b,
        [
          [1, 'p'],
          [2, value('v')],
          [11, 5],
        ],
      ],
      [
        0x040c,
        [
          [1, Date.now() + 1000],
          [11, 6],
          [12, 'nap'],
        ],
      ],
      [
        0x040d,
        [
          [1, 'Svc'],
          [2, 'h'],
          [3, Buffer.from('{}')],
          [
            4,
            [
              [1, 'x-a'],
              [2, 'b'],
            ],
          ],
          [5, 'key'],
          [6, 'idem'],
          [10, 7],
          [11, 8],
        ],
      ],
      [
        0x040e,
        [
          [1, 'Svc'],
          [2, 'h'],
          [4, Date.now()],
          [10, 9],
        ],
      ],
      [
        0x0410,
        [
          [1, invId],
          [2, 1],
          [4, []],
        ],
      ],
      [
        0x0410,
        [
          [1, invId],
          [3, 'sig'],
          [5, value('x')],
        ],
      ],
      [0x0411, [[11, 10]]],
      [
        0x0412,
        [
          [1, invId],
          [11, 11],
        ],
      ],
      [
        0x0413,
        [
          [
            3,
            [
              [1, 'S'],
              [3, 'h'],
              [4, 'k'],
            ],
          ],
          [11, 12],
        ],
      ],
      [
        0x0412,
        [
          [
            4,
            [
              [1, 'Wf'],
              [2, 'k'],
            ],
          ],
          [11, 13],
        ],
      ],
      [
        0x0414,
        [
          [1, signalId(newInvocationId(3n), 17)],
          [2, value('x')],
        ],
      ],
      [0xfc01, [[1, 'custom']]],
    ];
    for (const [type, fields] of ok) {
      const m = checkMessage(type, pb(fields));
      expect(m.kind).toBe('command');
    }
  });

  it('refuses bytes that do not parse as protobuf', () => {
    expect(violation(0x040d, Buffer.from([0x0a, 0x05, 0x41]))).toMatch(/CallCommandMessage does not parse/);
    expect(violation(0x0401, Buffer.from([0xff, 0xff, 0xff]))).toMatch(/does not parse/);
    expect(violation(0xfc00, Buffer.from([0x0b]))).toMatch(/custom entry 0xfc00/);
  });

  it('refuses wrong wire types, oversized uint32s and invalid UTF-8', () => {
    expect(violation(0x0411, pb([[11, 'x']]))).toMatch(/result_completion_id: expected a varint/);
    expect(violation(0x0411, pb([[11, 2n ** 32n]]))).toMatch(/does not fit in a uint32/);
    expect(
      violation(
        0x0409,
        pb([
          [1, Buffer.from([0xc3, 0x28])],
          [11, 1],
        ]),
      ),
    ).toMatch(/key: not valid UTF-8/);
  });

  it('refuses missing completion ids and results', () => {
    expect(violation(0x0402, pb([[1, Buffer.from('k')]]))).toMatch(/result_completion_id is missing/);
    expect(violation(0x0411, pb([]))).toMatch(/RunCommandMessage: result_completion_id is missing/);
    expect(violation(0x0401, pb([[12, 'out']]))).toMatch(/result \(value or failure\) is missing/);
    expect(violation(0x040b, pb([[11, 1]]))).toMatch(/completion \(value or failure\) is missing/);
    expect(violation(0x0403, pb([[1, Buffer.from('k')]]))).toMatch(/value is missing/);
    expect(violation(0x0005, pb([[14, Buffer.from('v')]]))).toMatch(/result_completion_id is missing/);
    expect(violation(0x0005, pb([[1, 1]]))).toMatch(/result \(value or failure\) is missing/);
  });

  it('refuses two members of one oneof', () => {
    expect(
      violation(
        0x0401,
        pb([
          [14, value('a')],
          [15, [[1, 500]]],
        ]),
      ),
    ).toMatch(/more than one of 'result'/);
  });

  it('refuses call targets without service or handler, empty headers and idempotency keys', () => {
    expect(
      violation(
        0x040d,
        pb([
          [2, 'h'],
          [10, 1],
          [11, 2],
        ]),
      ),
    ).toMatch(/service_name is missing/);
    expect(
      violation(
        0x040e,
        pb([
          [1, 'S'],
          [10, 1],
        ]),
      ),
    ).toMatch(/handler_name is missing/);
    expect(
      violation(
        0x040d,
        pb([
          [1, 'S'],
          [2, 'h'],
          [4, [[2, 'v']]],
          [10, 1],
          [11, 2],
        ]),
      ),
    ).toMatch(/header has an empty name/);
    expect(
      violation(
        0x040d,
        pb([
          [1, 'S'],
          [2, 'h'],
          [6, ''],
          [10, 1],
          [11, 2],
        ]),
      ),
    ).toMatch(/idempotency_key is present but empty/);
    expect(
      violation(
        0x040d,
        pb([
          [1, 'S'],
          [2, 'h'],
          [10, 3],
          [11, 3],
        ]),
      ),
    ).toMatch(/are equal/);
    expect(
      violation(
        0x040d,
        pb([
          [1, 'S'],
          [2, 'h'],
          [11, 3],
        ]),
      ),
    ).toMatch(/invocation_id_notification_idx is missing/);
  });

  it('refuses invocation ids and awakeable ids that do not parse', () => {
    expect(
      violation(
        0x0412,
        pb([
          [1, 'inv_1notreallyanid'],
          [11, 1],
        ]),
      ),
    ).toMatch(/invocation_id 'inv_1notreallyanid' is not a valid invocation id/);
    expect(
      violation(
        0x0413,
        pb([
          [1, `${invId}x`],
          [11, 1],
        ]),
      ),
    ).toMatch(/not a valid invocation id/);
    expect(violation(0x0412, pb([[11, 1]]))).toMatch(/target .* is missing/);
    expect(
      violation(
        0x0412,
        pb([
          [4, [[2, 'k']]],
          [11, 1],
        ]),
      ),
    ).toMatch(/workflow_name is missing/);
    expect(
      violation(
        0x0413,
        pb([
          [
            3,
            [
              [1, 'S'],
              [3, 'h'],
            ],
          ],
          [11, 1],
        ]),
      ),
    ).toMatch(/idempotency_key is missing/);
    expect(
      violation(
        0x0410,
        pb([
          [1, 'inv_1zzz'],
          [2, 1],
          [4, []],
        ]),
      ),
    ).toMatch(/target_invocation_id 'inv_1zzz'/);
    expect(
      violation(
        0x0410,
        pb([
          [1, invId],
          [2, 0],
          [4, []],
        ]),
      ),
    ).toMatch(/signal id 0/);
    expect(
      violation(
        0x0410,
        pb([
          [1, invId],
          [4, []],
        ]),
      ),
    ).toMatch(/signal_id .* is missing/);
    expect(
      violation(
        0x0414,
        pb([
          [1, 'sign_1AAAA'],
          [2, value('x')],
        ]),
      ),
    ).toMatch(/awakeable_id 'sign_1AAAA' is not a valid awakeable id/);
    expect(violation(0x0414, pb([[1, signalId(newInvocationId(3n), 17)]]))).toMatch(/result .* is missing/);
  });

  it('refuses sleep and invoke times that are not sane dates', () => {
    expect(violation(0x040c, pb([[11, 1]]))).toMatch(/wake_up_time is missing/);
    expect(
      violation(
        0x040c,
        pb([
          [1, BigInt(MAX_TIME_MS) + 1n],
          [11, 1],
        ]),
      ),
    ).toMatch(/not a time before year 10000/);
    expect(
      violation(
        0x040c,
        pb([
          [1, 2n ** 64n - 1n],
          [11, 1],
        ]),
      ),
    ).toMatch(/not a time/);
    expect(
      violation(
        0x040e,
        pb([
          [1, 'S'],
          [2, 'h'],
          [4, 2n ** 63n],
          [10, 1],
        ]),
      ),
    ).toMatch(/invoke_time/);
  });

  it('refuses message types an endpoint may not send', () => {
    expect(violation(0x0400, pb([]))).toMatch(/InputCommandMessage/);
    expect(violation(0x0000, pb([]))).toMatch(/0x0000 is not one an endpoint may send/);
    expect(violation(0x0004, pb([]))).toMatch(/0x0004/);
    expect(violation(0x0123, pb([]))).toMatch(/0x0123/);
    expect(violation(0x040f, pb([]))).toMatch(/0x040f/);
    expect(violation(0x0415, pb([]))).toMatch(/0x0415/);
    expect(violation(0x8011, pb([[1, 1]]))).toMatch(/notification 0x8011/);
    expect(violation(0xfbff, pb([]))).toMatch(/notification 0xfbff/);
  });

  it('refuses suspensions that wait on nothing or on id 0', () => {
    expect(violation(0x0001, pb([]))).toMatch(/waits on nothing/);
    expect(violation(0x0001, pb([[1, 0]]))).toMatch(/completion id 0/);
    expect(violation(0x0001, pb([[2, 0]]))).toMatch(/signal id 0/);
    expect(violation(0x0001, pb([[3, '']]))).toMatch(/empty name/);
    let deep: F[] = [[1, 1]];
    for (let i = 0; i < 40; i++) deep = [[4, deep]];
    expect(violation(0x0001, pb([[4, deep]]))).toMatch(/nested more than/);
  });
});

describe('AttemptChecker', () => {
  const run = (id: number) => pb([[11, id]]);
  const propose = (id: number) =>
    pb([
      [1, id],
      [14, Buffer.from('v')],
    ]);

  it('follows completion ids from the stored journal and from new commands', () => {
    const journal = [J.inputCommand([], Buffer.from('x')), { type: 0x0411, bytes: run(1) }, J.runCompletion(1)];
    const c = new AttemptChecker(journal);
    expect(() => c.check(0x0005, propose(1))).toThrow(/run 1 is already completed/);
    expect(() => c.check(0x0411, run(1))).toThrow(/completion id 1 was already used/);
    expect(() => c.check(0x0005, propose(2))).toThrow(/not that of a RunCommand/);
    c.check(0x0411, run(2));
    expect(c.check(0x0005, propose(2)).kind).toBe('proposeRun');
    expect(() => c.check(0x0005, propose(2))).toThrow(/already completed/);
  });

  it('refuses a suspension on a completion that no command issued', () => {
    const c = new AttemptChecker();
    c.check(
      0x040c,
      pb([
        [1, Date.now()],
        [11, 1],
      ]),
    );
    expect(() => c.check(0x0001, pb([[1, 2]]))).toThrow(/completion id 2, which no command issued/);
    expect(new AttemptChecker().check(0x0001, pb([[2, 17]])).kind).toBe('suspension');
    const d = new AttemptChecker();
    d.check(
      0x040c,
      pb([
        [1, Date.now()],
        [11, 1],
      ]),
    );
    expect(d.check(0x0001, pb([[1, 1]])).kind).toBe('suspension');
  });

  it('refuses anything after End', () => {
    const c = new AttemptChecker();
    c.check(0x0401, pb([[14, value('x')]]));
    c.check(0x0003, pb([]));
    expect(() => c.check(0x0405, pb([]))).toThrow(/after End/);
  });
});

describe('whatever is accepted decodes', () => {
  const decodeAll = (type: number, bytes: Uint8Array) => {
    const e = { type, bytes };
    J.decodeCommand(e);
    J.decodeCommand(e);
    J.callTarget(e);
    if (type === 0x0005) J.decodeProposeRun(bytes);
    if (type === 0x0001) J.decodeSuspension(bytes);
    if (type === 0x0002) J.decodeError(bytes);
  };
  const types = [
    0x0001, 0x0002, 0x0003, 0x0005, 0x0006, 0x0401, 0x0402, 0x0403, 0x0404, 0x0405, 0x0406, 0x0407, 0x0408, 0x0409,
    0x040a, 0x040b, 0x040c, 0x040d, 0x040e, 0x0410, 0x0411, 0x0412, 0x0413, 0x0414, 0xfc00,
  ];

  it('random bytes: only ProtocolViolation is thrown, and accepted messages decode', () => {
    fc.assert(
      fc.property(fc.constantFrom(...types), fc.uint8Array({ maxLength: 64 }), (type, bytes) => {
        try {
          checkMessage(type, bytes);
        } catch (err) {
          if (err instanceof ProtocolViolation) return;
          throw err;
        }
        decodeAll(type, bytes);
      }),
      { numRuns: 3000, seed: 20261126 },
    );
  });

  it('random field sets: only ProtocolViolation is thrown, and accepted messages decode', () => {
    const leaf: fc.Arbitrary<F[1]> = fc.oneof(
      fc.nat(),
      fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      fc.string({ maxLength: 40 }),
      fc.constant(invId),
      fc.uint8Array({ maxLength: 20 }),
    );
    const field = (depth: number): fc.Arbitrary<F> =>
      fc.tuple(
        fc.integer({ min: 1, max: 16 }),
        depth > 0
          ? fc.oneof(
              leaf,
              fc.array(
                fc.constant(0).chain(() => field(depth - 1)),
                { maxLength: 4 },
              ),
            )
          : leaf,
      );
    fc.assert(
      fc.property(fc.constantFrom(...types), fc.array(field(2), { maxLength: 8 }), (type, fields) => {
        const bytes = pb(fields);
        try {
          checkMessage(type, bytes);
        } catch (err) {
          if (err instanceof ProtocolViolation) return;
          throw err;
        }
        decodeAll(type, bytes);
      }),
      { numRuns: 3000, seed: 611 },
    );
  });
});
