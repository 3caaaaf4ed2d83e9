export { createLogger, type Logger, type LogLevel } from './logging.ts';
export { createRegistry, type ProbeServer, readGauge, readLabeledGauge, startProbeServer } from './metrics.ts';
