export * as common from './gen/stead/common/v1/common.ts';
export * as logServer from './gen/stead/log/v1/log_server.ts';
export * as sequencer from './gen/stead/log/v1/sequencer.ts';
export * as metadata from './gen/stead/metadata/v1/metadata.ts';
export * as partition from './gen/stead/partition/v1/partition.ts';
