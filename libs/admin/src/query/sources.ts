// IntrospectionSources the admin server has itself (the schema registry's services and deployments), and the way
// to put several together: `combineSources(registryIntrospection(registry), partitionSource)`.
import {
  type IntrospectionRow,
  type IntrospectionSource,
  type ScanOptions,
  type ServiceType,
  scanInTurn,
} from '@stead/core';
import type { SchemaRegistry } from '../registry.ts';

/** A source with no rows for any table. */
export const EMPTY_SOURCE: IntrospectionSource = {
  async *scan() {},
};

const SERVICE_TY: Record<ServiceType, string> = {
  SERVICE: 'service',
  VIRTUAL_OBJECT: 'virtual_object',
  WORKFLOW: 'workflow',
};

function serviceRows(registry: SchemaRegistry): IntrospectionRow[] {
  return registry.services().map((s) => ({
    name: s.name,
    revision: s.revision,
    public: s.public,
    deployment_id: s.deploymentId,
    ty: SERVICE_TY[s.ty],
  }));
}

function deploymentRows(registry: SchemaRegistry): IntrospectionRow[] {
  return registry.deployments().map((d) => ({
    id: d.id,
    // Stead registers HTTP endpoints only (no Lambda).
    ty: 'http',
    endpoint: d.uri,
    created_at: Date.parse(d.createdAt),
    min_service_protocol_version: d.minProtocolVersion,
    max_service_protocol_version: d.maxProtocolVersion,
    services: d.services.map((s) => s.name),
  }));
}

/** `sys_service` and `sys_deployment` from the schema registry, as they are when scanned. */
export function registryIntrospection(registry: SchemaRegistry): IntrospectionSource {
  const tables: Record<string, (r: SchemaRegistry) => IntrospectionRow[]> = {
    sys_service: serviceRows,
    sys_deployment: deploymentRows,
  };
  return {
    async *scan(table: string, opts: ScanOptions) {
      const rows = tables[table]?.(registry) ?? [];
      if (rows.length > 0) yield rows.slice(0, opts.limit);
    },
  };
}

/** The rows of every source in turn, `limit` counted over all of them. */
export function combineSources(...sources: IntrospectionSource[]): IntrospectionSource {
  return {
    scan: (table: string, opts: ScanOptions) =>
      scanInTurn(
        sources.map((source) => (o: ScanOptions) => source.scan(table, o)),
        opts,
      ),
  };
}
