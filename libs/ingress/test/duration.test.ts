import { parseDuration } from '@stead/core';
import { contentTypeMatches } from '../src/index.ts';

const ms = (s: string) => {
  const r = parseDuration(s);
  if ('error' in r) throw new Error(`${s}: ${r.error}`);
  return r.ms;
};

describe('parseDuration (Restate ?delay= formats)', () => {
  test.each([
    ['10s', 10_000],
    ['500ms', 500],
    ['1m', 60_000],
    ['1.5s', 1_500],
    ['1h30m', 5_400_000],
    ['1h 30m', 5_400_000],
    ['1 hour, 30 minutes', 5_400_000],
    ['2 minutes', 120_000],
    ['1 second', 1_000],
    ['1d', 86_400_000],
    ['1w', 604_800_000],
    ['0s', 0],
    ['PT1S', 1_000],
    ['PT0.5S', 500],
    ['P1D', 86_400_000],
    ['PT1H30M', 5_400_000],
    ['P1DT2H', 93_600_000],
    ['pt10s', 10_000],
    ['P2W', 1_209_600_000],
  ])('%s → %d ms', (text, expected) => {
    expect(ms(text)).toBe(expected);
  });

  test.each(['', '100', 'abc', '-1s', '1 fortnight', 'P', 'PT', 'P1Y', 'P1M', '1mo', '-PT1S', '1s garbage'])(
    'rejects %j',
    (text) => {
      expect('error' in parseDuration(text)).toBe(true);
    },
  );
});

describe('contentTypeMatches', () => {
  test('exact, parameters, wildcards, lists; case-sensitive as Restate', () => {
    expect(contentTypeMatches('application/json', 'application/json')).toBe(true);
    expect(contentTypeMatches('application/json; charset=utf-8', 'application/json')).toBe(true);
    expect(contentTypeMatches('text/plain', 'text/*')).toBe(true);
    expect(contentTypeMatches('anything/else', '*/*')).toBe(true);
    expect(contentTypeMatches('application/xml', 'application/json, application/xml')).toBe(true);
    expect(contentTypeMatches('TEXT/Plain', 'text/*')).toBe(false);
    expect(contentTypeMatches('application/jsonx', 'application/json')).toBe(false);
    expect(contentTypeMatches('garbage', '*/*')).toBe(false);
  });
});
