export { createLogger, type Logger, type LogLevel } from './logging.ts';
export {
  BATCH_RECORDS_BUCKETS,
  createRegistry,
  histogram,
  type ProbeServer,
  readCounter,
  readGauge,
  readLabeledCounter,
  readLabeledGauge,
  SECONDS_BUCKETS,
  secondsSince,
  startProbeServer,
} from './metrics.ts';
