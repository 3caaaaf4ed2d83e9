import { toDuckDbDialect } from '../src/query/dialect.ts';

describe('toDuckDbDialect', () => {
  test('FIRST_VALUE(... ORDER BY ...) as an aggregate becomes first(...) (restate services status)', () => {
    const cli = `SELECT target_service_name, COUNT(1) as n, FIRST_VALUE(id ORDER BY created_at ASC) as oldest
      FROM sys_invocation_status WHERE status == 'inboxed' GROUP BY target_service_name`;
    expect(toDuckDbDialect(cli)).toBe(cli.replace('FIRST_VALUE(', 'first('));
    expect(toDuckDbDialect('select last_value(x order by y) from t')).toBe('select last(x order by y) from t');
  });

  test('FIRST_VALUE as a window function stays', () => {
    const q = 'select first_value(id) over (partition by g order by id), first_value (x) OVER w from t';
    expect(toDuckDbDialect(q)).toBe(q);
  });

  test('an unnamed subquery gets its inner alias, which the outer query uses (restate invocations list --service)', () => {
    const cli = `SELECT COUNT(1) FROM (SELECT * FROM sys_invocation inv LIMIT 50000 )
        WHERE inv.target_service_name IN ('Greeter') AND status != 'completed'`;
    expect(toDuckDbDialect(cli)).toBe(cli.replace('50000 )', '50000 ) AS inv'));
    const all = 'SELECT COUNT(1) FROM (SELECT * FROM sys_invocation AS inv LIMIT 50000 ) ';
    expect(toDuckDbDialect(all)).toBe(all.replace('50000 )', '50000 ) AS inv'));
  });

  test('subqueries with an alias, without an inner alias, or not in FROM stay', () => {
    for (const q of [
      'SELECT * FROM (SELECT * FROM sys_invocation inv) x WHERE x.id = 1',
      'SELECT * FROM (SELECT * FROM sys_invocation inv) AS x',
      'SELECT * FROM (SELECT * FROM sys_invocation LIMIT 5) WHERE id = 1',
      'SELECT * FROM (SELECT id FROM sys_invocation inv) WHERE id = 1',
      'SELECT * FROM sys_invocation WHERE id IN (SELECT * FROM sys_journal j)',
    ]) {
      expect(toDuckDbDialect(q)).toBe(q);
    }
  });

  test('text in literals, quoted names and comments is never rewritten', () => {
    const q = `select 'first_value(x order by y)' as s, "first_value" -- first_value(a order by b)
      from t /* FROM (SELECT * FROM t inv) WHERE */`;
    expect(toDuckDbDialect(q)).toBe(q);
  });
});
