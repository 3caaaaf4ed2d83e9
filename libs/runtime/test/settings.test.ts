import { corsOriginsProblem } from '@stead/core';
import {
  ConfigError,
  envName,
  helpText,
  loadSettings,
  parseBytes,
  parseDurationMs,
  type SettingsSpec,
  settingsWith,
} from '../src/settings.ts';

const spec = {
  dataDir: { kind: 'string', default: './data', help: 'dir' },
  ingressPort: { kind: 'int', default: '8080', min: 0, max: 65535, help: 'port' },
  verbose: { kind: 'bool', default: 'false', help: 'chatty' },
  timeout: { kind: 'duration', default: '10s', min: 1, help: 'timeout' },
  maxBody: { kind: 'bytes', default: '10MiB', help: 'limit' },
} satisfies SettingsSpec;

describe('settings', () => {
  it('validates string settings with their check (CORS origins)', () => {
    const cors = {
      corsAllowedOrigins: { kind: 'string', default: '*', check: corsOriginsProblem, help: 'origins' },
    } satisfies SettingsSpec;
    expect(loadSettings(cors, [], {}).settings.corsAllowedOrigins).toBe('*');
    const ok = loadSettings(cors, ['--cors-allowed-origins', 'https://a.example, http://localhost:3000'], {});
    expect(ok.settings.corsAllowedOrigins).toBe('https://a.example, http://localhost:3000');
    expect(() => loadSettings(cors, [], { STEAD_CORS_ALLOWED_ORIGINS: '*,https://a.example' })).toThrow(
      /environment STEAD_CORS_ALLOWED_ORIGINS: '\*' cannot be combined with a list of origins, got/,
    );
    expect(() => loadSettings(cors, ['--cors-allowed-origins=https://a.example/app'], {})).toThrow(
      /flag --cors-allowed-origins: 'https:\/\/a.example\/app' is not an origin/,
    );
  });

  it('uses defaults, then environment, then flags', () => {
    expect(loadSettings(spec, [], {}).settings).toEqual({
      dataDir: './data',
      ingressPort: 8080,
      verbose: false,
      timeout: 10_000,
      maxBody: 10 * 1024 * 1024,
    });
    const env = { STEAD_INGRESS_PORT: '9000', STEAD_DATA_DIR: '/env' };
    expect(loadSettings(spec, [], env).settings.ingressPort).toBe(9000);
    const s = loadSettings(
      spec,
      ['--ingress-port', '9100', '--data-dir=/flag', '--verbose', '--timeout', '1m30s'],
      env,
    ).settings;
    expect(s).toMatchObject({ ingressPort: 9100, dataDir: '/flag', verbose: true, timeout: 90_000 });
  });

  it('reports every bad value at once with where it came from', () => {
    let err: unknown;
    try {
      loadSettings(spec, ['--ingress-port', '70000', '--timeout', 'soon', '--nope', '1'], { STEAD_MAX_BODY: 'big' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems;
    expect(problems).toEqual(
      expect.arrayContaining([
        'unknown flag --nope',
        "flag --ingress-port: must be <= 65535, got '70000'",
        "flag --timeout: expected a duration like 500ms, 10s, 5m, got 'soon'",
        "environment STEAD_MAX_BODY: expected a size like 1048576, 512KiB, 10MiB, got 'big'",
      ]),
    );
  });

  it('flags unknown STEAD_ variables (typos) and missing values', () => {
    expect(() => loadSettings(spec, [], { STEAD_INGRES_PORT: '1' })).toThrow(
      /unknown environment variable STEAD_INGRES_PORT/,
    );
    expect(() => loadSettings(spec, ['--data-dir'], {})).toThrow(/--data-dir needs a value/);
  });

  it('parses durations and sizes', () => {
    expect(parseDurationMs('250ms')).toBe(250);
    expect(parseDurationMs('2h')).toBe(7_200_000);
    expect(parseDurationMs('1.5s')).toBe(1500);
    expect(parseDurationMs('5 apples')).toBeUndefined();
    expect(parseBytes('512KiB')).toBe(524_288);
    expect(parseBytes('1kb')).toBe(1000);
    expect(parseBytes('12 parsecs')).toBeUndefined();
  });

  it('documents every setting with its flag and variable', () => {
    const text = helpText('x', spec);
    for (const name of Object.keys(spec)) expect(text).toContain(envName(name));
    expect(text).toContain('--ingress-port');
  });
});

test('settingsWith: the values given, every other setting at its default, no flag or variable read', () => {
  process.env.STEAD_INGRESS_PORT = '1234';
  try {
    expect(settingsWith(spec, { dataDir: '/srv' })).toEqual(
      expect.objectContaining({ dataDir: '/srv', ingressPort: 8080, verbose: false }),
    );
  } finally {
    delete process.env.STEAD_INGRESS_PORT;
  }
});
