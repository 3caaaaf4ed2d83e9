export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type Logger = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;

function replacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
  return value;
}

/** Structured JSON log lines on stdout: one object per line with time, level, component and message. */
export function createLogger(
  component: string,
  opts: { level?: LogLevel; write?: (line: string) => void } = {},
): Logger {
  const min = ORDER[opts.level ?? ((process.env.STEAD_LOG_LEVEL as LogLevel | undefined) || 'info')] ?? ORDER.info;
  const write = opts.write ?? ((line: string) => process.stdout.write(line));
  return (level, msg, fields) => {
    if (ORDER[level] < min) return;
    write(`${JSON.stringify({ time: new Date().toISOString(), level, component, msg, ...fields }, replacer)}\n`);
  };
}
