/** OpenAPI description of the admin routes Stead serves (written for Stead; shapes follow Restate's admin API). */

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: unknown) => ({ 'application/json': { schema } });
const error = (description: string) => ({ description, content: json(ref('Error')) });
const errors = {
  '400': error('Bad request'),
  '404': error('Not found'),
  '500': error('Internal error'),
};
const pathParam = (name: string, description: string) => ({
  name,
  in: 'path',
  required: true,
  description,
  schema: { type: 'string' },
});

export const ADMIN_OPENAPI = {
  openapi: '3.1.0',
  info: {
    title: 'Stead admin API',
    version: '1',
    description:
      'Registers SDK deployments and lists what they expose. Compatible with the corresponding routes of the Restate admin API.',
  },
  paths: {
    '/health': { get: { operationId: 'health', summary: 'Liveness', responses: { '200': { description: 'Up' } } } },
    '/version': {
      get: {
        operationId: 'version',
        summary: 'Server version and supported admin API versions',
        responses: { '200': { description: 'Version information', content: json(ref('VersionInformation')) } },
      },
    },
    '/openapi': {
      get: { operationId: 'openapi', summary: 'This document', responses: { '200': { description: 'OpenAPI 3.1' } } },
    },
    '/deployments': {
      get: {
        operationId: 'list_deployments',
        summary: 'List deployments',
        responses: {
          '200': {
            description: 'All deployments',
            content: json({
              type: 'object',
              required: ['deployments'],
              properties: { deployments: { type: 'array', items: ref('Deployment') } },
            }),
          },
        },
      },
      post: {
        operationId: 'create_deployment',
        summary: 'Register a deployment',
        description:
          'Discovers the services of an SDK endpoint and registers them. The same uri again answers the existing deployment (200) unless `force` is set, which re-discovers it and overwrites it in place.',
        requestBody: { required: true, content: json(ref('RegisterDeploymentRequest')) },
        responses: {
          '200': {
            description: 'Already registered (or overwritten with force)',
            headers: { Location: { schema: { type: 'string' } } },
            content: json(ref('RegisterDeploymentResponse')),
          },
          '201': {
            description: 'Registered',
            headers: { Location: { schema: { type: 'string' } } },
            content: json(ref('RegisterDeploymentResponse')),
          },
          '400': error('Invalid request, uri or endpoint manifest'),
          '409': error('Incompatible service change (for example a service type change) without force/breaking'),
          '413': error('Request body too large'),
          '415': error('Content type is not application/json'),
          '422': error('Body is not a RegisterDeploymentRequest'),
          '500': error('The endpoint could not be reached or answered badly'),
        },
      },
    },
    '/deployments/{deployment}': {
      get: {
        operationId: 'get_deployment',
        summary: 'Get a deployment with its services',
        parameters: [pathParam('deployment', 'Deployment id (dp_...)')],
        responses: { '200': { description: 'Deployment', content: json(ref('DetailedDeployment')) }, ...errors },
      },
      delete: {
        operationId: 'delete_deployment',
        summary: 'Remove a deployment',
        description:
          'Without force, removes a deployment no unfinished invocation is pinned to and refuses (409) one that has pinned invocations. With force=true, removes it anyway (its pinned invocations then fail).',
        parameters: [
          pathParam('deployment', 'Deployment id (dp_...)'),
          { name: 'force', in: 'query', required: false, schema: { type: 'boolean' } },
        ],
        responses: {
          '202': { description: 'Removed' },
          ...errors,
          '409': error('Unfinished invocations are pinned to the deployment (remove with force=true)'),
          '501': error('Graceful removal is not available on this server (use force=true)'),
        },
      },
    },
    '/services': {
      get: {
        operationId: 'list_services',
        summary: 'List services (latest revisions)',
        responses: {
          '200': {
            description: 'All services',
            content: json({
              type: 'object',
              required: ['services'],
              properties: { services: { type: 'array', items: ref('ServiceMetadata') } },
            }),
          },
        },
      },
    },
    '/services/{service}': {
      get: {
        operationId: 'get_service',
        summary: 'Get a service',
        parameters: [pathParam('service', 'Service name')],
        responses: { '200': { description: 'Service', content: json(ref('ServiceMetadata')) }, ...errors },
      },
      patch: {
        operationId: 'modify_service',
        summary: 'Modify service configuration',
        description:
          'Changes retentions, timeouts, visibility (and, as a Stead extension, the retry policy) of the latest revision of a service. Persisted; a new registration of the service replaces them with what its manifest says. Answers the service as GET does.',
        parameters: [pathParam('service', 'Service name')],
        requestBody: { required: true, content: json(ref('ModifyServiceRequest')) },
        responses: { '200': { description: 'Service', content: json(ref('ServiceMetadata')) }, ...errors },
      },
    },
    '/invocations/{invocation_id}': {
      get: {
        operationId: 'get_invocation',
        summary: 'Status and journal of an invocation (Stead extension)',
        description:
          'What Restate shows through SQL (sys_invocation, sys_journal): available while the invocation runs and, once completed, until its retention ends (journal retention; idempotency or workflow completion retention where they apply). 404 afterwards.',
        parameters: [pathParam('invocation_id', 'Invocation id (inv_...)')],
        responses: { '200': { description: 'Invocation', content: json(ref('InvocationDescription')) }, ...errors },
      },
    },
    '/services/{service}/handlers': {
      get: {
        operationId: 'list_service_handlers',
        summary: 'List the handlers of a service',
        parameters: [pathParam('service', 'Service name')],
        responses: {
          '200': {
            description: 'Handlers',
            content: json({
              type: 'object',
              required: ['handlers'],
              properties: { handlers: { type: 'array', items: ref('HandlerMetadata') } },
            }),
          },
          ...errors,
        },
      },
    },
    '/services/{service}/handlers/{handler}': {
      get: {
        operationId: 'get_service_handler',
        summary: 'Get a handler',
        parameters: [pathParam('service', 'Service name'), pathParam('handler', 'Handler name')],
        responses: { '200': { description: 'Handler', content: json(ref('HandlerMetadata')) }, ...errors },
      },
    },
  },
  components: {
    schemas: {
      Error: {
        type: 'object',
        required: ['message'],
        properties: { message: { type: 'string' }, restate_code: { type: ['string', 'null'] } },
      },
      VersionInformation: {
        type: 'object',
        required: ['version', 'min_admin_api_version', 'max_admin_api_version', 'features'],
        properties: {
          version: { type: 'string' },
          min_admin_api_version: { type: 'integer' },
          max_admin_api_version: { type: 'integer' },
          ingress_endpoint: { type: ['string', 'null'] },
          features: { type: 'object', additionalProperties: { type: 'boolean' } },
        },
      },
      RegisterDeploymentRequest: {
        type: 'object',
        required: ['uri'],
        properties: {
          uri: { type: 'string', format: 'uri', description: 'Where the SDK endpoint listens' },
          additional_headers: {
            type: ['object', 'null'],
            additionalProperties: { type: 'string' },
            description: 'Headers sent with every discovery and invocation request',
          },
          use_http_11: { type: 'boolean', description: 'Use HTTP/1.1 instead of HTTP/2 (request/response only)' },
          force: { type: ['boolean', 'null'], description: 'Overwrite a deployment with the same uri' },
          breaking: { type: 'boolean', description: 'Allow incompatible service changes' },
          dry_run: { type: 'boolean', description: 'Discover and validate without registering' },
        },
      },
      RegisterDeploymentResponse: {
        type: 'object',
        required: ['id', 'services'],
        properties: {
          id: { type: 'string' },
          services: { type: 'array', items: ref('ServiceMetadata') },
          min_protocol_version: { type: 'integer' },
          max_protocol_version: { type: 'integer' },
          sdk_version: { type: ['string', 'null'] },
        },
      },
      Deployment: {
        type: 'object',
        required: [
          'id',
          'uri',
          'protocol_type',
          'http_version',
          'created_at',
          'min_protocol_version',
          'max_protocol_version',
          'services',
        ],
        properties: {
          id: { type: 'string' },
          uri: { type: 'string' },
          protocol_type: { type: 'string', enum: ['RequestResponse', 'BidiStream'] },
          http_version: { type: 'string' },
          additional_headers: { type: 'object', additionalProperties: { type: 'string' } },
          created_at: { type: 'string' },
          min_protocol_version: { type: 'integer' },
          max_protocol_version: { type: 'integer' },
          sdk_version: { type: ['string', 'null'] },
          services: {
            type: 'array',
            items: {
              type: 'object',
              required: ['name', 'revision'],
              properties: { name: { type: 'string' }, revision: { type: 'integer' } },
            },
          },
        },
      },
      DetailedDeployment: {
        allOf: [
          ref('Deployment'),
          { type: 'object', properties: { services: { type: 'array', items: ref('ServiceMetadata') } } },
        ],
      },
      ServiceMetadata: {
        type: 'object',
        required: ['name', 'ty', 'handlers', 'deployment_id', 'revision'],
        properties: {
          name: { type: 'string' },
          ty: { type: 'string', enum: ['Service', 'VirtualObject', 'Workflow'] },
          handlers: { type: 'array', items: ref('HandlerMetadata') },
          deployment_id: { type: 'string' },
          revision: { type: 'integer' },
          public: { type: 'boolean' },
          documentation: { type: ['string', 'null'] },
          metadata: { type: 'object', additionalProperties: { type: 'string' } },
          idempotency_retention: { type: 'string' },
          workflow_completion_retention: { type: ['string', 'null'] },
          journal_retention: { type: ['string', 'null'] },
          inactivity_timeout: { type: 'string' },
          abort_timeout: { type: 'string' },
          enable_lazy_state: { type: 'boolean' },
          retry_policy: { type: 'object' },
        },
      },
      ModifyServiceRequest: {
        type: 'object',
        description: 'Durations: friendly (`5 hours`, `10s`) or ISO 8601 (`PT5H`). null or absent: unchanged.',
        properties: {
          public: { type: ['boolean', 'null'] },
          idempotency_retention: { type: ['string', 'null'] },
          journal_retention: { type: ['string', 'null'] },
          inactivity_timeout: { type: ['string', 'null'] },
          abort_timeout: { type: ['string', 'null'] },
          workflow_completion_retention: { type: ['string', 'null'], description: 'Workflows only' },
          retry_policy: {
            type: ['object', 'null'],
            description: 'Stead extension',
            properties: {
              initial_interval: { type: ['string', 'null'] },
              exponentiation_factor: { type: ['number', 'null'] },
              max_attempts: { type: ['integer', 'null'], minimum: 1 },
              max_interval: { type: ['string', 'null'] },
              on_max_attempts: { type: ['string', 'null'], enum: ['Pause', 'Kill', null] },
            },
          },
        },
      },
      InvocationDescription: {
        type: 'object',
        required: ['id', 'target', 'status', 'created_at', 'modified_at', 'journal_size', 'journal'],
        properties: {
          id: { type: 'string' },
          target: { type: 'string' },
          target_service_name: { type: 'string' },
          target_handler_name: { type: 'string' },
          target_service_key: { type: 'string' },
          status: {
            type: 'string',
            enum: ['scheduled', 'pending', 'running', 'suspended', 'paused', 'completed'],
          },
          created_at: { type: 'string' },
          modified_at: { type: 'string' },
          completed_at: { type: 'string' },
          retention_until: { type: 'string' },
          journal_retention_until: { type: 'string' },
          idempotency_key: { type: 'string' },
          deployment_id: { type: 'string' },
          completion_result: { type: 'string', enum: ['success', 'failure'] },
          completion_failure: { type: 'string' },
          journal_size: { type: 'integer' },
          journal: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                index: { type: 'integer' },
                entry_type: { type: 'string' },
                type_code: { type: 'integer' },
              },
            },
          },
        },
      },
      HandlerMetadata: {
        type: 'object',
        required: ['name', 'input_description', 'output_description'],
        properties: {
          name: { type: 'string' },
          ty: { type: ['string', 'null'], enum: ['Exclusive', 'Shared', 'Workflow', null] },
          public: { type: 'boolean' },
          input_description: { type: 'string' },
          output_description: { type: 'string' },
          input_json_schema: {},
          output_json_schema: {},
          documentation: { type: ['string', 'null'] },
          metadata: { type: 'object', additionalProperties: { type: 'string' } },
          retry_policy: { type: 'object' },
        },
      },
    },
  },
} as const;
