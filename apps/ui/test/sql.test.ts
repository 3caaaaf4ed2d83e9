import {
  escapeLike,
  filterToParams,
  invocationCountQuery,
  invocationPageQuery,
  invocationWhere,
  lit,
  paramsToFilter,
  tsLit,
} from '../src/sql.ts';

describe('the SQL the UI builds', () => {
  it('quotes string literals, doubling quotes, so a value cannot end its literal', () => {
    expect(lit('plain')).toBe("'plain'");
    expect(lit("it's")).toBe("'it''s'");
    expect(lit("x' OR '1'='1")).toBe("'x'' OR ''1''=''1'");
    expect(lit("''")).toBe("''''''");
  });

  it('escapes LIKE wildcards in an id prefix', () => {
    expect(escapeLike('inv_1%a\\b')).toBe('inv\\_1\\%a\\\\b');
    expect(invocationWhere({ id: "inv_1a'" })).toBe(" WHERE id LIKE 'inv\\_1a''%' ESCAPE '\\'");
  });

  it('writes UTC timestamp literals', () => {
    expect(tsLit(Date.UTC(2025, 0, 2, 3, 4, 5, 678))).toBe("TIMESTAMP '2025-01-02 03:04:05.678'");
    expect(() => tsLit(Number.NaN)).toThrow(RangeError);
  });

  it('filters only on the fields given', () => {
    expect(invocationWhere({})).toBe('');
    expect(invocationWhere({ status: [] })).toBe('');
    expect(
      invocationWhere({
        service: 'Counter',
        handler: 'add',
        key: "o'k",
        status: ['running', 'backing-off'],
        createdFromMs: Date.UTC(2025, 0, 1),
        createdToMs: Date.UTC(2025, 0, 2),
      }),
    ).toBe(
      " WHERE target_service_name = 'Counter' AND target_handler_name = 'add' AND target_service_key = 'o''k'" +
        " AND status IN ('running', 'backing-off') AND created_at >= TIMESTAMP '2025-01-01 00:00:00.000'" +
        " AND created_at <= TIMESTAMP '2025-01-02 00:00:00.000'",
    );
  });

  it('pages newest first, asking for one row more than a page', () => {
    const q = invocationPageQuery({ service: 'S' }, 2, 25);
    expect(q).toMatch(/^SELECT id, target, .* FROM sys_invocation WHERE target_service_name = 'S' /);
    expect(q).toMatch(/ORDER BY created_at DESC, id LIMIT 26 OFFSET 50$/);
    expect(() => invocationPageQuery({}, -1, 25)).toThrow(RangeError);
    expect(invocationCountQuery({ key: 'k' })).toBe(
      "SELECT count(*) AS n FROM sys_invocation WHERE target_service_key = 'k'",
    );
  });

  it('round-trips a filter through the URL query', () => {
    const filter = {
      service: 'S',
      handler: 'h',
      key: 'a b&c',
      id: 'inv_1',
      status: ['running', 'paused'],
      createdFromMs: Date.UTC(2025, 5, 1, 12),
      createdToMs: Date.UTC(2025, 5, 2, 12),
    };
    const params = filterToParams(filter, 3);
    expect(params.get('status')).toBe('running,paused');
    expect(paramsToFilter(new URLSearchParams(params.toString()))).toEqual({ filter, page: 3 });
    expect(paramsToFilter(new URLSearchParams('page=-2&from=nonsense'))).toEqual({
      filter: {
        service: undefined,
        handler: undefined,
        key: undefined,
        id: undefined,
        status: [],
        createdFromMs: undefined,
        createdToMs: undefined,
      },
      page: 0,
    });
  });
});
