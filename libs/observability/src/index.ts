export { createLogger, type Logger, type LogLevel } from './logging.ts';
export { createRegistry, type ProbeServer, readGauge, startProbeServer } from './metrics.ts';
