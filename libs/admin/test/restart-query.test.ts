/** The query of `PATCH /invocations/{id}/restart-as-new`: `from` and `deployment`, as Restate 1.7 spells them. */
import { restartOptions } from '../src/invocations.ts';

const parse = (q: string) => restartOptions(new URLSearchParams(q));

describe('restart-as-new query', () => {
  it('reads from and each spelling of deployment', () => {
    expect(parse('')).toEqual({});
    expect(parse('from=0')).toEqual({ from: 0 });
    expect(parse('from=7')).toEqual({ from: 7 });
    expect(parse('from=4294967295')).toEqual({ from: 4294967295 });
    expect(parse('from=3&deployment=Latest')).toEqual({ from: 3, deployment: 'latest' });
    expect(parse('from=3&deployment=KEEP')).toEqual({ from: 3, deployment: 'keep' });
    expect(parse('from=3&deployment=keep')).toEqual({ from: 3, deployment: 'keep' });
    expect(parse('from=3&deployment=dp_14LN')).toEqual({ from: 3, deployment: { id: 'dp_14LN' } });
    expect(parse('from=3&deployment%5BId%5D=dp_14LN')).toEqual({ from: 3, deployment: { id: 'dp_14LN' } });
  });

  it('refuses a malformed from and a deployment without from, saying why', () => {
    for (const bad of ['from=-1', 'from=1.5', 'from=x', 'from=4294967296', 'from=99999999999'])
      expect(parse(bad)).toMatch(/'from' must be a journal entry index/);
    expect(parse('deployment=keep')).toMatch(/only together with 'from' greater than 0/);
    expect(parse('from=0&deployment=latest')).toMatch(/only together with 'from'/);
    expect(parse('from=2&deployment%5BId%5D=')).toMatch(/is empty/);
  });
});
