export * from './address-policy.ts';
export * from './config.ts';
export * from './cors.ts';
export * from './deployable.ts';
export {
  type DurationResult,
  formatDuration,
  formatTimestamp,
  type ParseDurationOptions,
  parseDuration,
} from './duration.ts';
export * from './hash.ts';
export { type BodySource, BodyTooLargeError, readBody } from './http-body.ts';
export * from './http-idle.ts';
export { decodePathSegment, HttpRouter, type HttpRouterOptions, type RouteMatch, splitPath } from './http-router.ts';
export * from './ids.ts';
export * from './invocation.ts';
export * from './invocation-options.ts';
export * from './schema.ts';
