import { stateVersion } from '../src/index.ts';

const text = (s: string) => new TextEncoder().encode(s);

describe('stateVersion', () => {
  // The versions Restate's CLI sends for these states (it computes them itself from the `state` table).
  it('matches the version Restate computes', () => {
    expect(stateVersion([[text('name'), text('bob')]])).toBe('tDqA04Lj3_qJ-PgNPTecXDGZgpwy6jm2Ni2BYqJIthM');
    expect(stateVersion([])).toBe('47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU');
  });

  it('does not depend on the order the entries come in', () => {
    const version = 'RVM17P6x18Wp-JnzQ01BzmqCvhAunTOQI_az6Px3Zyk';
    expect(
      stateVersion([
        [text('b'), text('bbb')],
        [text('a'), text('aaa')],
      ]),
    ).toBe(version);
    expect(
      stateVersion([
        [text('a'), text('aaa')],
        [text('b'), text('bbb')],
      ]),
    ).toBe(version);
  });

  it('tells apart states that concatenate to the same bytes', () => {
    expect(stateVersion([[text('ab'), text('c')]])).not.toBe(stateVersion([[text('a'), text('bc')]]));
    expect(stateVersion([[text('a'), text('b')]])).not.toBe(stateVersion([[text('a'), text('c')]]));
  });
});
