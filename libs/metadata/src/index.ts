export { GrpcMetadataClient, type MetadataClient } from './client.ts';
export { MetadataError } from './errors.ts';
export type { Logger } from './log.ts';
export type { MetadataMetrics, MetadataNode } from './node.ts';
export { Precondition } from './state.ts';
export { createMetadataStore, type MetadataStore } from './store.ts';
