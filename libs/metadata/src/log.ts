/** Structured logging: one JSON object per line. */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 } as const;
export type LogLevel = keyof typeof LEVELS;

export function jsonLogger(
  component: string,
  opts: { level?: LogLevel; out?: (line: string) => void; fields?: Record<string, unknown> } = {},
): Logger {
  const min = LEVELS[opts.level ?? 'info'];
  const out = opts.out ?? ((line: string) => process.stderr.write(`${line}\n`));
  const write = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (LEVELS[level] < min) return;
    out(
      JSON.stringify({ ts: new Date().toISOString(), level, component, msg, ...opts.fields, ...fields }, (_k, v) =>
        typeof v === 'bigint' ? v.toString() : v,
      ),
    );
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
  };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
