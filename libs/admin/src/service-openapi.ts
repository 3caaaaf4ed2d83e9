// `GET /services/{service}/openapi`: an OpenAPI 3.1 document of the ingress routes that reach one service, made
// from its schema (handler names, types, content types and the JSON schemas its manifest declares), so that API
// tools and client generators can call it.
import type { HandlerSchema, ServiceSchema } from '@stead/core';

type Json = Record<string, unknown>;

const ERROR_SCHEMA: Json = {
  type: 'object',
  description: 'An error answered by the ingress, or the terminal failure of the invocation.',
  properties: {
    code: { type: 'number', description: 'HTTP-style status of the failure' },
    message: { type: 'string' },
    metadata: { type: 'object', additionalProperties: { type: 'string' } },
    source: {
      type: 'string',
      enum: ['ingress', 'invocation'],
      description: 'Whether the ingress refused the request or the invocation failed (also in x-restate-error-source)',
    },
  },
  required: ['message'],
};

const SEND_SCHEMA: Json = {
  type: 'object',
  properties: {
    invocationId: { type: 'string' },
    status: { type: 'string', enum: ['Accepted', 'PreviouslyAccepted'] },
    executionTime: { type: 'string', format: 'date-time', description: 'When a delayed invocation starts' },
  },
  required: ['invocationId', 'status'],
};

const COMPONENTS: Json = {
  schemas: { Error: ERROR_SCHEMA, SendReceipt: SEND_SCHEMA },
  parameters: {
    key: { name: 'key', in: 'path', required: true, schema: { type: 'string' }, description: 'Object or workflow key' },
    idempotencyKeyHeader: {
      name: 'idempotency-key',
      in: 'header',
      required: false,
      schema: { type: 'string' },
      description: 'Calls with the same key within the retention run once and share one result',
    },
    idempotencyKeyPath: {
      name: 'idempotencyKey',
      in: 'path',
      required: true,
      schema: { type: 'string' },
      description: 'The idempotency key the invocation was made with',
    },
    delay: {
      name: 'delay',
      in: 'query',
      required: false,
      schema: { type: 'string' },
      description: 'Start the invocation after this long (e.g. 10s, 5m, PT1H)',
    },
  },
  responses: {
    Error: {
      description: 'Failure',
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
    },
    Send: {
      description: 'The invocation is durable and will run',
      content: { 'application/json': { schema: { $ref: '#/components/schemas/SendReceipt' } } },
    },
    NotFound: {
      description: 'No such invocation (or its result is no longer retained)',
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
    },
    NotReady: {
      description: 'The invocation has not completed yet',
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
    },
  },
};

const ref = (name: string) => ({ $ref: `#/components/parameters/${name}` });

/** A media type object: the declared JSON schema when there is one. */
function media(schema: unknown): Json {
  return schema === undefined ? {} : { schema };
}

function requestBody(h: HandlerSchema): Json | undefined {
  if (h.input === undefined) return { required: false, content: { '*/*': {} } };
  if (h.input.contentType === undefined) return undefined; // the handler takes no input
  return { required: h.input.required !== false, content: { [h.input.contentType]: media(h.input.jsonSchema) } };
}

function okResponse(h: HandlerSchema): Json {
  const type = h.output?.contentType;
  if (type === undefined) return { description: 'The handler returned (no body)' };
  return { description: "The handler's result", content: { [type]: media(h.output?.jsonSchema) } };
}

function operation(summary: string, operationId: string, tag: string, parameters: Json[], rest: Json): Json {
  return { summary, operationId, tags: [tag], ...(parameters.length > 0 ? { parameters } : {}), ...rest };
}

/** The paths reaching one handler: call, send, and for idempotent plain-service calls attach/output by key. */
function handlerPaths(svc: ServiceSchema, h: HandlerSchema, paths: Json): void {
  const keyed = svc.ty !== 'SERVICE';
  const target = keyed ? `${svc.name}/{key}/${h.name}` : `${svc.name}/${h.name}`;
  const params = keyed ? [ref('key')] : [];
  const idem = svc.ty === 'WORKFLOW' ? [] : [ref('idempotencyKeyHeader')];
  const body = requestBody(h);
  const withBody = body === undefined ? {} : { requestBody: body };
  paths[`/restate/call/${target}`] = {
    post: operation(`Call ${svc.name}/${h.name} and wait for its result`, h.name, 'Call', [...params, ...idem], {
      ...withBody,
      responses: { '200': okResponse(h), default: { $ref: '#/components/responses/Error' } },
    }),
  };
  paths[`/restate/send/${target}`] = {
    post: operation(
      `Start ${svc.name}/${h.name} without waiting`,
      `${h.name}Send`,
      'Send',
      [...params, ...idem, ref('delay')],
      {
        ...withBody,
        responses: {
          '200': { $ref: '#/components/responses/Send' },
          '202': { $ref: '#/components/responses/Send' },
          default: { $ref: '#/components/responses/Error' },
        },
      },
    ),
  };
  if (svc.ty !== 'SERVICE') return;
  const byKey = `/restate/invocation/${svc.name}/${h.name}/{idempotencyKey}`;
  paths[`${byKey}/attach`] = {
    get: operation(
      `Wait for the ${h.name} call made with this idempotency key`,
      `${h.name}Attach`,
      'Attach',
      [ref('idempotencyKeyPath')],
      {
        responses: {
          '200': okResponse(h),
          '404': { $ref: '#/components/responses/NotFound' },
          default: { $ref: '#/components/responses/Error' },
        },
      },
    ),
  };
  paths[`${byKey}/output`] = {
    get: operation(
      `The result of the ${h.name} call made with this idempotency key`,
      `${h.name}Output`,
      'Output',
      [ref('idempotencyKeyPath')],
      {
        responses: {
          '200': okResponse(h),
          '404': { $ref: '#/components/responses/NotFound' },
          '470': { $ref: '#/components/responses/NotReady' },
          default: { $ref: '#/components/responses/Error' },
        },
      },
    ),
  };
}

/** A workflow's run: attach to it and read its output by key. */
function workflowPaths(svc: ServiceSchema, run: HandlerSchema, paths: Json): void {
  const base = `/restate/workflow/${svc.name}/{key}`;
  paths[`${base}/attach`] = {
    get: operation(`Wait for the ${svc.name} run of this key`, 'workflowAttach', 'Attach', [ref('key')], {
      responses: {
        '200': okResponse(run),
        '404': { $ref: '#/components/responses/NotFound' },
        default: { $ref: '#/components/responses/Error' },
      },
    }),
  };
  paths[`${base}/output`] = {
    get: operation(`The result of the ${svc.name} run of this key`, 'workflowOutput', 'Output', [ref('key')], {
      responses: {
        '200': okResponse(run),
        '404': { $ref: '#/components/responses/NotFound' },
        '470': { $ref: '#/components/responses/NotReady' },
        default: { $ref: '#/components/responses/Error' },
      },
    }),
  };
}

/**
 * The OpenAPI 3.1 document of a service's ingress routes. Handlers that are not public (ingress-private) are left
 * out, as is everything of a private service: the ingress refuses them.
 */
export function serviceOpenApi(svc: ServiceSchema, ingressUrl: string | undefined): Json {
  const paths: Json = {};
  const visible = svc.public ? svc.handlers.filter((h) => h.public !== false) : [];
  for (const h of [...visible].sort((a, b) => a.name.localeCompare(b.name))) handlerPaths(svc, h, paths);
  const run = visible.find((h) => h.ty === 'WORKFLOW');
  if (svc.ty === 'WORKFLOW' && run !== undefined) workflowPaths(svc, run, paths);
  const doc: Json = {
    openapi: '3.1.0',
    info: { title: svc.name, version: String(svc.revision) },
    paths,
    components: COMPONENTS,
  };
  if (ingressUrl !== undefined) doc.servers = [{ url: ingressUrl, description: 'Stead ingress' }];
  return doc;
}
