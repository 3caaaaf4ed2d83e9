export { createLogger, type Logger, type LogLevel } from './logging.ts';
export { createRegistry, type ProbeServer, readGauge, readLabelledGauge, startProbeServer } from './metrics.ts';
