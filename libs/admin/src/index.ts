/**
 * @stead/admin: Restate's admin API (deployments, services, invocations) over the schema registry. SQL
 * introspection (`POST /query`, DuckDB over an IntrospectionSource) is the entry `@stead/admin/query`: DuckDB and
 * Apache Arrow are some 330 modules, which the worker and the ingress (they use the registry only) need not load.
 */
export type { DiscoveredEndpoint, DiscoveredService, DiscoverOptions } from '@stead/core';
export { deploymentIdProblem, newDeploymentId } from './ids.ts';
export { mountInvocationRoutes } from './invocations.ts';
export {
  isClusterKey,
  type MetadataMembers,
  type MetadataRouteOptions,
  mountMetadataRoutes,
} from './metadata-routes.ts';
export { MetadataSchemaStore, type MetadataSchemaStoreOptions, SCHEMA_KEY } from './metadata-store.ts';
export { ADMIN_OPENAPI } from './openapi.ts';
export {
  type DiscoverFn,
  normalizeUri,
  type RegisterDeploymentInput,
  type RegisterDeploymentResult,
  SchemaError,
  SchemaRegistry,
  type SchemaRegistryOptions,
  type ServiceChanges,
} from './registry.ts';
export { DEFAULT_SERVICE_DEFAULTS, renderHandler, renderService, type ServiceDefaults } from './render.ts';
export {
  AdminError,
  type AdminHandler,
  type AdminReply,
  type AdminRequest,
  AdminRouter,
  errorReply,
} from './router.ts';
export { mountScheduleRoutes, type ScheduleRoutesOptions } from './schedules.ts';
export { ADMIN_ROUTE_SCOPES, adminRouteScope } from './scopes.ts';
export {
  type AdminServer,
  type AdminServerOptions,
  MAX_ADMIN_API_VERSION,
  MIN_ADMIN_API_VERSION,
  mountSchemaRoutes,
  startAdminServer,
} from './server.ts';
export { mountStateRoutes } from './state.ts';
export {
  FileSchemaStore,
  MemorySchemaStore,
  SchemaConflictError,
  type SchemaSnapshot,
  type SchemaStore,
} from './store.ts';
