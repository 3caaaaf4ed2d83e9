/** OpenAPI description of the admin routes Stead serves (written for Stead; shapes follow Restate's admin API). */

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: unknown) => ({ 'application/json': { schema } });
const error = (description: string) => ({ description, content: json(ref('Error')) });
const errors = {
  '400': error('Bad request'),
  '404': error('Not found'),
  '500': error('Internal error'),
};
/** 200 with one `schema` object, or an error. */
const found = (description: string, schema: string) => ({
  '200': { description, content: json(ref(schema)) },
  ...errors,
});
/** An answer `{ [field]: item[] }`. */
const listOf = (description: string, field: string, item: string) => ({
  description,
  content: json({ type: 'object', required: [field], properties: { [field]: { type: 'array', items: ref(item) } } }),
});
const pathParam = (name: string, description: string) => ({
  name,
  in: 'path',
  required: true,
  description,
  schema: { type: 'string' },
});

/** Property schemas most components use. */
const STRING = { type: 'string' };
const STRING_OR_NULL = { type: ['string', 'null'] };
const INTEGER = { type: 'integer' };
const BOOLEAN = { type: 'boolean' };

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
    '/cluster-health': {
      get: {
        operationId: 'cluster_health',
        summary: "The cluster's name and the voting members of its metadata store (null without Raft)",
        responses: { '200': { description: 'Cluster health', content: json(ref('ClusterHealth')) } },
      },
    },
    '/query': {
      post: {
        operationId: 'query',
        summary: 'SQL over the introspection tables (sys_invocation, sys_journal, state, ...)',
        requestBody: {
          required: true,
          content: json({ type: 'object', required: ['query'], properties: { query: STRING } }),
        },
        responses: {
          '200': { description: 'Rows as JSON (`{"rows": [...]}`) or Arrow IPC, by the Accept header' },
          ...errors,
        },
      },
    },
    '/cluster/metadata/members': {
      get: {
        operationId: 'metadata_members',
        summary: 'Raft members and leader of the metadata store (400 on the one-process server)',
        responses: { '200': { description: 'Members' }, ...errors },
      },
    },
    '/cluster/metadata/{key}': {
      get: {
        operationId: 'metadata_get',
        summary: 'A metadata key: version and value (UTF-8 text or base64)',
        parameters: [pathParam('key', 'Metadata key')],
        responses: { '200': { description: 'The value' }, ...errors },
      },
      put: {
        operationId: 'metadata_put',
        summary: 'Write a metadata key (cluster keys need force)',
        parameters: [pathParam('key', 'Metadata key')],
        requestBody: { required: true, content: json({ type: 'object', required: ['value'] }) },
        responses: { '200': { description: 'Written' }, ...errors, '409': error('Version mismatch, or a cluster key') },
      },
    },
    '/subscriptions': {
      get: {
        operationId: 'list_subscriptions',
        summary: 'Kafka subscriptions: always none (Stead has no Kafka ingestion)',
        responses: { '200': { description: 'An empty list' } },
      },
      post: {
        operationId: 'create_subscription',
        summary: 'Not supported',
        responses: { '501': error('Stead has no Kafka ingestion') },
      },
    },
    '/subscriptions/{subscription}': {
      get: {
        operationId: 'get_subscription',
        summary: 'Always 404',
        parameters: [pathParam('subscription', 'Subscription id')],
        responses: { '404': error('No such subscription') },
      },
      delete: {
        operationId: 'delete_subscription',
        summary: 'Always 404',
        parameters: [pathParam('subscription', 'Subscription id')],
        responses: { '404': error('No such subscription') },
      },
    },
    '/kafka-clusters': {
      get: {
        operationId: 'list_kafka_clusters',
        summary: 'Kafka clusters: always none',
        responses: { '200': { description: 'An empty list' } },
      },
      post: {
        operationId: 'create_kafka_cluster',
        summary: 'Not supported',
        responses: { '501': error('Stead has no Kafka ingestion') },
      },
    },
    '/kafka-clusters/{cluster_name}': {
      get: {
        operationId: 'get_kafka_cluster',
        summary: 'Always 404',
        parameters: [pathParam('cluster_name', 'Cluster name')],
        responses: { '404': error('No such cluster') },
      },
      patch: {
        operationId: 'update_kafka_cluster',
        summary: 'Always 404',
        parameters: [pathParam('cluster_name', 'Cluster name')],
        responses: { '404': error('No such cluster') },
      },
      delete: {
        operationId: 'delete_kafka_cluster',
        summary: 'Always 404',
        parameters: [pathParam('cluster_name', 'Cluster name')],
        responses: { '404': error('No such cluster') },
      },
    },
    '/limits/rules': {
      put: { operationId: 'upsert_rules', summary: 'Not supported', responses: { '501': error('No limit rules') } },
    },
    '/limits/rules/bulk-delete': {
      post: { operationId: 'delete_rules', summary: 'Not supported', responses: { '501': error('No limit rules') } },
    },
    '/vqueues/{vqueue_id}/pause': {
      post: {
        operationId: 'pause_vqueue',
        summary: 'Not supported',
        parameters: [pathParam('vqueue_id', 'Virtual queue id')],
        responses: { '501': error('No virtual queues') },
      },
    },
    '/vqueues/{vqueue_id}/resume': {
      post: {
        operationId: 'resume_vqueue',
        summary: 'Not supported',
        parameters: [pathParam('vqueue_id', 'Virtual queue id')],
        responses: { '501': error('No virtual queues') },
      },
    },
    '/deployments': {
      get: {
        operationId: 'list_deployments',
        summary: 'List deployments',
        responses: {
          '200': listOf('All deployments', 'deployments', 'Deployment'),
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
          '400': error('Invalid request or uri; the endpoint answered 4xx or a bad manifest'),
          '409': error('Incompatible service change (for example a service type change) without force/breaking'),
          '413': error('Request body too large'),
          '415': error('Content type is not application/json'),
          '422': error('Body is not a RegisterDeploymentRequest'),
          '503': error('The endpoint could not be reached or answered 5xx; registering again may succeed'),
        },
      },
    },
    '/deployments/{deployment}': {
      get: {
        operationId: 'get_deployment',
        summary: 'Get a deployment with its services',
        parameters: [pathParam('deployment', 'Deployment id (dp_...)')],
        responses: found('Deployment', 'DetailedDeployment'),
      },
      patch: {
        operationId: 'update_deployment',
        summary: 'Move a deployment or change its headers',
        description:
          'Discovers the endpoint again at `uri` (default: the current one) with `additional_headers` (replacing all of them) and `use_http_11`, keeping the id, so invocations pinned to the deployment go on at the new address. Without `overwrite` the services stay as registered and the endpoint must still serve each of them and their handlers with the same types (409 otherwise); with `overwrite` they are replaced by what it serves now. `dry_run` changes nothing.',
        parameters: [pathParam('deployment', 'Deployment id (dp_...)')],
        requestBody: { required: true, content: json(ref('UpdateDeploymentRequest')) },
        responses: {
          ...found('Deployment as it is now', 'DetailedDeployment'),
          '409': error(
            'The endpoint no longer serves the services (use overwrite), or another deployment has that uri',
          ),
          '422': error('Body is not an UpdateDeploymentRequest'),
          '503': error('The endpoint could not be reached or answered 5xx'),
        },
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
          '200': listOf('All services', 'services', 'ServiceMetadata'),
        },
      },
    },
    '/services/{service}': {
      get: {
        operationId: 'get_service',
        summary: 'Get a service',
        parameters: [pathParam('service', 'Service name')],
        responses: found('Service', 'ServiceMetadata'),
      },
      patch: {
        operationId: 'modify_service',
        summary: 'Modify service configuration',
        description:
          'Changes retentions, timeouts, visibility (and, as a Stead extension, the retry policy) of the latest revision of a service. Persisted; a new registration of the service replaces them with what its manifest says. Answers the service as GET does.',
        parameters: [pathParam('service', 'Service name')],
        requestBody: { required: true, content: json(ref('ModifyServiceRequest')) },
        responses: found('Service', 'ServiceMetadata'),
      },
    },
    '/invocations/{invocation_id}': {
      get: {
        operationId: 'get_invocation',
        summary: 'Status and journal of an invocation (Stead extension)',
        description:
          'What Restate shows through SQL (sys_invocation, sys_journal): available while the invocation runs and, once completed, until its retention ends (journal retention; idempotency or workflow completion retention where they apply). 404 afterwards.',
        parameters: [pathParam('invocation_id', 'Invocation id (inv_...)')],
        responses: found('Invocation', 'InvocationDescription'),
      },
      delete: {
        operationId: 'delete_invocation',
        summary: 'Cancel, kill or purge an invocation (the older form of the PATCH routes)',
        parameters: [
          pathParam('invocation_id', 'Invocation id (inv_...)'),
          { name: 'mode', in: 'query', required: false, schema: { type: 'string', enum: ['cancel', 'kill', 'purge'] } },
        ],
        responses: { '202': { description: 'Accepted' }, ...errors },
      },
    },
    '/invocations/{invocation_id}/cancel': {
      patch: {
        operationId: 'cancel_invocation',
        summary: 'Cancel: the handler sees a cancellation and may compensate; callees are cancelled too',
        parameters: [pathParam('invocation_id', 'Invocation id (inv_...)')],
        responses: {
          '200': { description: 'Done' },
          ...errors,
          '409': error("Not possible in the invocation's state"),
        },
      },
    },
    '/invocations/{invocation_id}/kill': {
      patch: {
        operationId: 'kill_invocation',
        summary: 'Kill: end the invocation at once, without running more of its handler',
        parameters: [pathParam('invocation_id', 'Invocation id (inv_...)')],
        responses: {
          '200': { description: 'Done' },
          ...errors,
          '409': error("Not possible in the invocation's state"),
        },
      },
    },
    '/invocations/{invocation_id}/purge': {
      patch: {
        operationId: 'purge_invocation',
        summary: 'Forget a completed invocation (its result, journal and idempotency key)',
        parameters: [pathParam('invocation_id', 'Invocation id (inv_...)')],
        responses: {
          '200': { description: 'Done' },
          ...errors,
          '409': error("Not possible in the invocation's state"),
        },
      },
    },
    '/invocations/{invocation_id}/purge-journal': {
      patch: {
        operationId: 'purge_journal_invocation',
        summary: 'Drop the journal of a completed invocation, keeping its result',
        parameters: [pathParam('invocation_id', 'Invocation id (inv_...)')],
        responses: {
          '200': { description: 'Done' },
          ...errors,
          '409': error("Not possible in the invocation's state"),
        },
      },
    },
    '/invocations/{invocation_id}/pause': {
      patch: {
        operationId: 'pause_invocation',
        summary: 'Pause a running invocation (it stays paused until resumed)',
        parameters: [pathParam('invocation_id', 'Invocation id (inv_...)')],
        responses: {
          '200': { description: 'Done' },
          ...errors,
          '409': error("Not possible in the invocation's state"),
        },
      },
    },
    '/invocations/{invocation_id}/resume': {
      patch: {
        operationId: 'resume_invocation',
        summary: 'Resume a paused invocation',
        parameters: [pathParam('invocation_id', 'Invocation id (inv_...)')],
        responses: {
          '200': { description: 'Done' },
          ...errors,
          '409': error("Not possible in the invocation's state"),
        },
      },
    },
    '/invocations/{invocation_id}/restart-as-new': {
      patch: {
        operationId: 'restart_as_new_invocation',
        summary: 'Start a completed invocation again as a new one',
        description:
          'From its input, or with `from`=N from its journal entries 0..N (and the completions of the commands among them), so those steps replay instead of running again. `deployment`: latest (default), keep, or a deployment id.',
        parameters: [
          pathParam('invocation_id', 'Invocation id (inv_...)'),
          { name: 'from', in: 'query', required: false, schema: { type: 'integer', minimum: 0 } },
          { name: 'deployment', in: 'query', required: false, schema: { type: 'string' } },
        ],
        responses: {
          '200': {
            description: 'The new invocation',
            content: json({
              type: 'object',
              required: ['new_invocation_id'],
              properties: { new_invocation_id: STRING },
            }),
          },
          ...errors,
          '409': error('The invocation has not completed, or the prefix holds a command that never completed'),
          '410': error('The journal is no longer retained'),
        },
      },
    },
    '/services/{service}/state': {
      post: {
        operationId: 'modify_service_state',
        summary: 'Replace the state of a virtual object or workflow key',
        description:
          "Replaces the whole state of one key (keys not in new_state are removed). Answers 202 once applied, or once queued behind the invocation that holds the key (applied when it ends; then dropped if version is given and no longer the state's); 409 when version is given and the state changed since that version was read.",
        parameters: [pathParam('service', 'Service name')],
        requestBody: { required: true, content: json(ref('ModifyServiceStateRequest')) },
        responses: { '202': { description: 'Replaced' }, '409': error('Conflict'), ...errors },
      },
    },
    '/services/{service}/openapi': {
      get: {
        operationId: 'get_service_openapi',
        summary: 'OpenAPI 3.1 document of the ingress routes reaching a service',
        description:
          'Call, send, and (plain services) attach/output by idempotency key; for workflows the attach/output of a run. Request and response bodies carry the content types and JSON schemas the handlers declare. Ingress-private handlers are left out.',
        parameters: [pathParam('service', 'Service name')],
        responses: { '200': { description: 'OpenAPI 3.1', content: json({ type: 'object' }) }, ...errors },
      },
    },
    '/services/{service}/handlers': {
      get: {
        operationId: 'list_service_handlers',
        summary: 'List the handlers of a service',
        parameters: [pathParam('service', 'Service name')],
        responses: {
          '200': listOf('Handlers', 'handlers', 'HandlerMetadata'),
          ...errors,
        },
      },
    },
    '/services/{service}/handlers/{handler}': {
      get: {
        operationId: 'get_service_handler',
        summary: 'Get a handler',
        parameters: [pathParam('service', 'Service name'), pathParam('handler', 'Handler name')],
        responses: found('Handler', 'HandlerMetadata'),
      },
    },
    '/schedules': {
      get: {
        operationId: 'list_schedules',
        summary: 'List the cron schedules (beyond Restate)',
        responses: { '200': listOf('Schedules, by id', 'schedules', 'Schedule'), ...errors },
      },
      post: {
        operationId: 'create_schedule',
        summary: 'Create a cron schedule: each tick starts the target handler exactly once',
        description:
          '201 when created, 200 when a schedule with this id and the same definition exists (nothing changes), 409 when the id has another definition; 400 names what to fix (cron, time zone, target).',
        requestBody: { required: true, content: json(ref('CreateScheduleRequest')) },
        responses: {
          '201': { description: 'Created', content: json(ref('Schedule')) },
          '200': { description: 'Exists with the same definition', content: json(ref('Schedule')) },
          '409': error('The id has another definition'),
          ...errors,
        },
      },
    },
    '/schedules/{schedule}': {
      get: {
        operationId: 'get_schedule',
        summary: 'Get a cron schedule: next fire times, last tick and invocation, counts',
        parameters: [pathParam('schedule', 'Schedule id')],
        responses: found('Schedule', 'Schedule'),
      },
      delete: {
        operationId: 'delete_schedule',
        summary: 'Delete a cron schedule (a tick invocation already started goes on)',
        parameters: [pathParam('schedule', 'Schedule id')],
        responses: { '204': { description: 'Deleted' }, ...errors },
      },
    },
    '/schedules/{schedule}/pause': {
      patch: {
        operationId: 'pause_schedule',
        summary: 'Pause a cron schedule: no tick fires until it is resumed',
        parameters: [pathParam('schedule', 'Schedule id')],
        responses: found('Paused', 'Schedule'),
      },
    },
    '/schedules/{schedule}/resume': {
      patch: {
        operationId: 'resume_schedule',
        summary: 'Resume a cron schedule from the first tick after now',
        parameters: [pathParam('schedule', 'Schedule id')],
        responses: found('Resumed', 'Schedule'),
      },
    },
  },
  components: {
    schemas: {
      CreateScheduleRequest: {
        type: 'object',
        required: ['cron', 'target'],
        properties: {
          id: { ...STRING, description: '1-128 of A-Z a-z 0-9 _ . - (default: generated)' },
          cron: { ...STRING, description: '5 fields (minute first) or 6 (second first)' },
          timeZone: { ...STRING, description: 'IANA time zone of the cron fields (default UTC)' },
          target: ref('ScheduleTarget'),
          input: { description: 'The JSON input of every tick (sent as application/json)' },
          inputBase64: { ...STRING, description: 'Or the input as base64 bytes, with contentType' },
          contentType: STRING,
          overlap: { type: 'string', enum: ['skip', 'queue', 'allow'], description: 'Default skip' },
        },
      },
      ScheduleTarget: {
        type: 'object',
        required: ['service', 'handler'],
        properties: { service: STRING, handler: STRING, key: { ...STRING, description: 'Virtual object key' } },
      },
      Schedule: {
        type: 'object',
        required: [
          'id',
          'cron',
          'timeZone',
          'target',
          'overlap',
          'paused',
          'nextFireTimes',
          'fired',
          'skipped',
          'late',
        ],
        properties: {
          id: STRING,
          cron: STRING,
          timeZone: STRING,
          target: ref('ScheduleTarget'),
          overlap: STRING,
          contentType: STRING,
          paused: BOOLEAN,
          createdAt: STRING,
          nextFireTimes: { type: 'array', items: STRING, description: 'The next five ticks (none while paused)' },
          lastTick: STRING,
          lastFiredAt: STRING,
          lastInvocationId: STRING,
          queuedTick: STRING,
          fired: INTEGER,
          skipped: INTEGER,
          late: INTEGER,
        },
      },
      ModifyServiceStateRequest: {
        type: 'object',
        required: ['object_key', 'new_state'],
        properties: {
          object_key: STRING,
          new_state: {
            type: 'object',
            description: 'State key to its value, as an array of bytes',
            additionalProperties: { type: 'array', items: { type: 'integer', minimum: 0, maximum: 255 } },
          },
          version: { ...STRING_OR_NULL, description: 'Replace only if the current state has this version' },
        },
      },
      UpdateDeploymentRequest: {
        type: 'object',
        properties: {
          uri: { ...STRING_OR_NULL, description: 'The new address (default: the current one)' },
          additional_headers: {
            type: ['object', 'null'],
            additionalProperties: STRING,
            description: 'Replaces all the headers sent to the deployment',
          },
          use_http_11: { type: ['boolean', 'null'] },
          overwrite: { ...BOOLEAN, description: "Replace the deployment's services with what the endpoint serves" },
          dry_run: { ...BOOLEAN, description: 'Discover and check, change nothing' },
        },
      },
      ClusterHealth: {
        type: 'object',
        required: ['cluster_name'],
        properties: {
          cluster_name: STRING,
          metadata_cluster_health: {
            type: ['object', 'null'],
            properties: { members: { type: 'array', items: STRING } },
          },
        },
      },
      Error: {
        type: 'object',
        required: ['message'],
        properties: { message: STRING, restate_code: STRING_OR_NULL },
      },
      VersionInformation: {
        type: 'object',
        required: ['version', 'min_admin_api_version', 'max_admin_api_version', 'features'],
        properties: {
          version: STRING,
          min_admin_api_version: INTEGER,
          max_admin_api_version: INTEGER,
          ingress_endpoint: STRING_OR_NULL,
          features: { type: 'object', additionalProperties: BOOLEAN },
        },
      },
      RegisterDeploymentRequest: {
        type: 'object',
        required: ['uri'],
        properties: {
          uri: { type: 'string', format: 'uri', description: 'Where the SDK endpoint listens' },
          additional_headers: {
            type: ['object', 'null'],
            additionalProperties: STRING,
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
          id: STRING,
          services: { type: 'array', items: ref('ServiceMetadata') },
          min_protocol_version: INTEGER,
          max_protocol_version: INTEGER,
          sdk_version: STRING_OR_NULL,
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
          id: STRING,
          uri: STRING,
          protocol_type: { type: 'string', enum: ['RequestResponse', 'BidiStream'] },
          http_version: STRING,
          additional_headers: { type: 'object', additionalProperties: STRING },
          created_at: STRING,
          min_protocol_version: INTEGER,
          max_protocol_version: INTEGER,
          sdk_version: STRING_OR_NULL,
          services: {
            type: 'array',
            items: {
              type: 'object',
              required: ['name', 'revision'],
              properties: { name: STRING, revision: INTEGER },
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
          name: STRING,
          ty: { type: 'string', enum: ['Service', 'VirtualObject', 'Workflow'] },
          handlers: { type: 'array', items: ref('HandlerMetadata') },
          deployment_id: STRING,
          revision: INTEGER,
          public: BOOLEAN,
          documentation: STRING_OR_NULL,
          metadata: { type: 'object', additionalProperties: STRING },
          idempotency_retention: STRING,
          workflow_completion_retention: STRING_OR_NULL,
          journal_retention: STRING_OR_NULL,
          inactivity_timeout: STRING,
          abort_timeout: STRING,
          enable_lazy_state: BOOLEAN,
          retry_policy: { type: 'object' },
        },
      },
      ModifyServiceRequest: {
        type: 'object',
        description: 'Durations: friendly (`5 hours`, `10s`) or ISO 8601 (`PT5H`). null or absent: unchanged.',
        properties: {
          public: { type: ['boolean', 'null'] },
          idempotency_retention: STRING_OR_NULL,
          journal_retention: STRING_OR_NULL,
          inactivity_timeout: STRING_OR_NULL,
          abort_timeout: STRING_OR_NULL,
          workflow_completion_retention: { type: ['string', 'null'], description: 'Workflows only' },
          retry_policy: {
            type: ['object', 'null'],
            description: 'Stead extension',
            properties: {
              initial_interval: STRING_OR_NULL,
              exponentiation_factor: { type: ['number', 'null'] },
              max_attempts: { type: ['integer', 'null'], minimum: 1 },
              max_interval: STRING_OR_NULL,
              on_max_attempts: { type: ['string', 'null'], enum: ['Pause', 'Kill', null] },
            },
          },
        },
      },
      InvocationDescription: {
        type: 'object',
        required: ['id', 'target', 'status', 'created_at', 'modified_at', 'journal_size', 'journal'],
        properties: {
          id: STRING,
          target: STRING,
          target_service_name: STRING,
          target_handler_name: STRING,
          target_service_key: STRING,
          status: {
            type: 'string',
            enum: ['scheduled', 'pending', 'running', 'suspended', 'paused', 'completed'],
          },
          created_at: STRING,
          modified_at: STRING,
          completed_at: STRING,
          retention_until: STRING,
          journal_retention_until: STRING,
          idempotency_key: STRING,
          deployment_id: STRING,
          completion_result: { type: 'string', enum: ['success', 'failure'] },
          completion_failure: STRING,
          journal_size: INTEGER,
          journal: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                index: INTEGER,
                entry_type: STRING,
                type_code: INTEGER,
              },
            },
          },
        },
      },
      HandlerMetadata: {
        type: 'object',
        required: ['name', 'input_description', 'output_description'],
        properties: {
          name: STRING,
          ty: { type: ['string', 'null'], enum: ['Exclusive', 'Shared', 'Workflow', null] },
          public: BOOLEAN,
          input_description: STRING,
          output_description: STRING,
          input_json_schema: {},
          output_json_schema: {},
          documentation: STRING_OR_NULL,
          metadata: { type: 'object', additionalProperties: STRING },
          retry_policy: { type: 'object' },
        },
      },
    },
  },
} as const;
