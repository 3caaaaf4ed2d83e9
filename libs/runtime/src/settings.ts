/**
 * Settings from flags (`--kebab-name value` or `--kebab-name=value`), environment (`STEAD_UPPER_SNAKE`)
 * and defaults, in that order of precedence. Every value is validated; all problems are reported at once.
 */
import { parseDuration } from '@stead/core';

export type SettingKind = 'string' | 'int' | 'bool' | 'duration' | 'bytes';

export interface SettingSpec {
  kind: SettingKind;
  default: string;
  help: string;
  /** Inclusive bounds for numeric kinds. */
  min?: number;
  max?: number;
  /** For `string` settings: the problem with a value (reported like any other), or undefined when it is fine. */
  check?: (value: string) => string | undefined;
}

export type SettingsSpec = Record<string, SettingSpec>;

type ValueOf<K extends SettingKind> = K extends 'string' ? string : K extends 'bool' ? boolean : number;
export type Settings<S extends SettingsSpec> = { [P in keyof S]: ValueOf<S[P]['kind']> };

export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.problems = problems;
  }
}

export function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

export function envName(name: string): string {
  return `STEAD_${kebab(name).replace(/-/g, '_').toUpperCase()}`;
}

const BYTE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kb: 1000,
  kib: 1024,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
};

/** Parses `250ms`, `10s`, `1m30s`, `1h 30m`, `PT5M`, or a plain number of milliseconds (the one duration parser). */
export function parseDurationMs(text: string): number | undefined {
  const r = parseDuration(text, { bareNumberMs: true });
  return 'ms' in r ? r.ms : undefined;
}

/** Parses `1048576`, `10MiB`, `512kb`. */
export function parseBytes(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(text.trim());
  if (!m) return undefined;
  const unit = BYTE_UNITS[m[2].toLowerCase()];
  return unit === undefined ? undefined : Math.round(Number(m[1]) * unit);
}

function convert(name: string, spec: SettingSpec, raw: string, source: string, problems: string[]): unknown {
  const where = `${source} ${source === 'flag' ? `--${kebab(name)}` : envName(name)}`;
  let value: number | string | boolean;
  switch (spec.kind) {
    case 'string':
      value = raw;
      if (raw === '') problems.push(`${where}: must not be empty`);
      else {
        const problem = spec.check?.(raw);
        if (problem !== undefined) problems.push(`${where}: ${problem}, got '${raw}'`);
      }
      return value;
    case 'bool':
      if (!['true', 'false', '1', '0', 'yes', 'no'].includes(raw.toLowerCase())) {
        problems.push(`${where}: expected true or false, got '${raw}'`);
        return false;
      }
      return ['true', '1', 'yes'].includes(raw.toLowerCase());
    case 'int': {
      if (!/^-?\d+$/.test(raw.trim())) {
        problems.push(`${where}: expected an integer, got '${raw}'`);
        return 0;
      }
      value = Number(raw);
      break;
    }
    case 'duration': {
      const v = parseDurationMs(raw);
      if (v === undefined) {
        problems.push(`${where}: expected a duration like 500ms, 10s, 5m, got '${raw}'`);
        return 0;
      }
      value = v;
      break;
    }
    case 'bytes': {
      const v = parseBytes(raw);
      if (v === undefined) {
        problems.push(`${where}: expected a size like 1048576, 512KiB, 10MiB, got '${raw}'`);
        return 0;
      }
      value = v;
      break;
    }
  }
  if (spec.min !== undefined && value < spec.min) problems.push(`${where}: must be >= ${spec.min}, got '${raw}'`);
  if (spec.max !== undefined && value > spec.max) problems.push(`${where}: must be <= ${spec.max}, got '${raw}'`);
  return value;
}

export interface LoadedConfig<S extends SettingsSpec> {
  settings: Settings<S>;
  help: boolean;
}

export function loadSettings<S extends SettingsSpec>(
  spec: S,
  argv: string[],
  env: Record<string, string | undefined>,
): LoadedConfig<S> {
  const problems: string[] = [];
  const byFlag = new Map(Object.keys(spec).map((k) => [kebab(k), k]));
  const fromFlags = new Map<string, string>();
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    if (!arg.startsWith('--')) {
      problems.push(`unexpected argument '${arg}'`);
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = arg.slice(2, eq < 0 ? undefined : eq);
    const name = byFlag.get(flag);
    if (!name) {
      problems.push(`unknown flag --${flag}`);
      continue;
    }
    let raw: string | undefined;
    if (eq >= 0) raw = arg.slice(eq + 1);
    else if (spec[name].kind === 'bool' && (argv[i + 1] === undefined || argv[i + 1].startsWith('--'))) raw = 'true';
    else raw = argv[++i];
    if (raw === undefined) problems.push(`flag --${flag} needs a value`);
    else fromFlags.set(name, raw);
  }
  for (const key of Object.keys(env)) {
    if (!key.startsWith('STEAD_')) continue;
    if (![...Object.keys(spec)].some((k) => envName(k) === key) && !KNOWN_FOREIGN_ENV.has(key)) {
      problems.push(`unknown environment variable ${key}`);
    }
  }
  const settings: Record<string, unknown> = {};
  for (const [name, s] of Object.entries(spec)) {
    const flag = fromFlags.get(name);
    const envValue = env[envName(name)];
    if (flag !== undefined) settings[name] = convert(name, s, flag, 'flag', problems);
    else if (envValue !== undefined) settings[name] = convert(name, s, envValue, 'environment', problems);
    else settings[name] = convert(name, s, s.default, 'default', problems);
  }
  if (problems.length > 0 && !help) throw new ConfigError(problems);
  return { settings: settings as Settings<S>, help };
}

/**
 * The settings of `spec` as `values` gives them, every other one at its default (flags and variables are not
 * read): what a process that runs a role in itself passes to it. `values` are not validated; the defaults are.
 */
export function settingsWith<S extends SettingsSpec>(spec: S, values: Partial<Settings<S>>): Settings<S> {
  const problems: string[] = [];
  const settings: Record<string, unknown> = {};
  for (const [name, s] of Object.entries(spec)) {
    const given = (values as Record<string, unknown>)[name];
    settings[name] = given !== undefined ? given : convert(name, s, s.default, 'default', problems);
  }
  return settings as Settings<S>;
}

/** STEAD_* variables read elsewhere (not settings of a process). */
const KNOWN_FOREIGN_ENV = new Set(['STEAD_LOG_LEVEL']);

export function helpText(title: string, spec: SettingsSpec): string {
  const lines = [title, '', 'Every setting is a flag and an environment variable (flags win):', ''];
  for (const [name, s] of Object.entries(spec)) {
    lines.push(`  --${kebab(name)} <${s.kind}>   ${envName(name)}   (default: ${s.default})`);
    lines.push(`      ${s.help}`);
  }
  return lines.join('\n');
}
