import {
  type HandlerSchema,
  type InvocationBackend,
  type InvocationOutcome,
  type InvocationQuery,
  isEngineMiss,
  queriedInvocationId,
  type SchemaView,
} from '@stead/core';
import { type IngressReply, type IngressRoute, ingressError, outcomeReply, statusErrorReply } from './server.ts';

function failureReply(err: unknown): IngressReply {
  const reply = statusErrorReply(err);
  if (reply !== undefined) return reply;
  throw err;
}

type Params = Record<string, string>;

/** The handler whose output content type applies (unknown for a bare invocation id). */
function handlerOf(schema: SchemaView, service?: string, handler?: string): HandlerSchema {
  const h = service ? schema.service(service)?.handlers.find((x) => x.name === handler) : undefined;
  return h ?? { name: handler ?? '' };
}

/** How each `/restate/.../{attach,output}` path names an invocation. */
const ATTACH_TARGETS: { pattern: string; query: (p: Params) => InvocationQuery }[] = [
  { pattern: '/restate/invocation/:id', query: (p) => ({ invocationId: p.id }) },
  { pattern: '/restate/workflow/:name/:key', query: (p) => ({ workflow: { name: p.name, key: p.key } }) },
  {
    pattern: '/restate/invocation/:service/:handler/:idem',
    query: (p) => ({ idempotent: { service: p.service, handler: p.handler, idempotencyKey: p.idem } }),
  },
  {
    pattern: '/restate/invocation/:service/:key/:handler/:idem',
    query: (p) => ({ idempotent: { service: p.service, key: p.key, handler: p.handler, idempotencyKey: p.idem } }),
  },
];

/** The handler whose output a query's answer carries (its declared content type applies). */
function queriedHandler(schema: SchemaView, q: InvocationQuery): HandlerSchema {
  if ('invocationId' in q) return handlerOf(schema);
  if ('workflow' in q) {
    const name = q.workflow.name;
    return handlerOf(schema, name, schema.service(name)?.handlers.find((h) => h.ty === 'WORKFLOW')?.name);
  }
  return handlerOf(schema, q.idempotent.service, q.idempotent.handler);
}

/** Attaches to (or reads the output of) the invocation `query` names, and answers with its outcome. */
async function attachReply(
  backend: InvocationBackend,
  schema: SchemaView,
  mode: 'attach' | 'output',
  query: InvocationQuery,
  signal: AbortSignal,
): Promise<IngressReply> {
  let res: { invocationId: string; outcome: InvocationOutcome };
  try {
    res = await backend.attach(query, mode, signal);
  } catch (err) {
    return failureReply(err);
  }
  // Restate reports a missing or unfinished invocation's output as the ingress's error, not the invocation's.
  if (mode === 'output' && !res.outcome.ok && isEngineMiss(res.outcome)) {
    return ingressError(res.outcome.code, res.outcome.message);
  }
  return outcomeReply(queriedHandler(schema, query), res.invocationId, res.outcome);
}

function attachRoute(
  backend: InvocationBackend,
  schema: SchemaView,
  mode: 'attach' | 'output',
  pattern: string,
  query: (p: Params) => InvocationQuery,
): IngressRoute {
  return {
    method: 'GET',
    pattern,
    handler: (ctx) => attachReply(backend, schema, mode, query(ctx.params), ctx.signal),
  };
}

/** A field of a request body that must be a string. */
function stringField(body: Record<string, unknown>, name: string): string {
  const v = body[name];
  if (typeof v !== 'string') {
    throw new BodyError(v === undefined ? `missing field '${name}'` : `field '${name}' must be a string`);
  }
  return v;
}

class BodyError extends Error {}

const BODY_TARGETS =
  "'invocation' (with invocationId), 'workflow' (with workflowName, workflowKey) or 'idempotentInvocation' (with service, handler, idempotencyKey and, for objects and workflows, key)";

/**
 * The invocation a `POST /restate/attach|output|lookup` body names: a JSON object whose `target` says how
 * (`invocation`, `workflow`, `idempotentInvocation`) with that form's fields beside it; unknown fields are
 * ignored. Throws BodyError saying what is wrong.
 */
export function parseQueryBody(bytes: Uint8Array): InvocationQuery {
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new BodyError(`not JSON (${err instanceof Error ? err.message : err})`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new BodyError('expected a JSON object');
  const b = body as Record<string, unknown>;
  if (b.target === undefined) throw new BodyError(`missing field 'target': one of ${BODY_TARGETS}`);
  switch (b.target) {
    case 'invocation':
      return { invocationId: stringField(b, 'invocationId') };
    case 'workflow':
      return { workflow: { name: stringField(b, 'workflowName'), key: stringField(b, 'workflowKey') } };
    case 'idempotentInvocation': {
      const service = stringField(b, 'service');
      const handler = stringField(b, 'handler');
      const idempotencyKey = stringField(b, 'idempotencyKey');
      const key = b.key === undefined || b.key === null ? undefined : stringField(b, 'key');
      return { idempotent: { service, key, handler, idempotencyKey } };
    }
    default:
      throw new BodyError(`unknown target ${JSON.stringify(b.target)}: expected ${BODY_TARGETS}`);
  }
}

/** The query of a request body, or the 400 answer for a body that does not name an invocation. */
async function bodyQuery(body: () => Promise<Uint8Array>): Promise<InvocationQuery | IngressReply> {
  const bytes = await body();
  try {
    return parseQueryBody(bytes);
  } catch (err) {
    if (err instanceof BodyError) return ingressError(400, `invalid request body: ${err.message}`);
    throw err;
  }
}

function isReply(x: InvocationQuery | IngressReply): x is IngressReply {
  return 'status' in x;
}

/** `POST /restate/attach` and `POST /restate/output`: the invocation named in the body. */
function bodyAttachRoute(backend: InvocationBackend, schema: SchemaView, mode: 'attach' | 'output'): IngressRoute {
  return {
    method: 'POST',
    pattern: `/restate/${mode}`,
    handler: async (ctx) => {
      const query = await bodyQuery(ctx.body);
      return isReply(query) ? query : attachReply(backend, schema, mode, query, ctx.signal);
    },
  };
}

/**
 * `POST /restate/lookup`: the id of the invocation the body names, computed (an idempotent request's and a
 * workflow run's ids are derived from what names them), so answered whether or not it exists yet, as Restate.
 */
function lookupRoute(): IngressRoute {
  return {
    method: 'POST',
    pattern: '/restate/lookup',
    handler: async (ctx) => {
      const query = await bodyQuery(ctx.body);
      if (isReply(query)) return query;
      try {
        return { status: 200, json: { invocationId: queriedInvocationId(query) } };
      } catch (err) {
        return failureReply(err);
      }
    },
  };
}

/** Where an awakeable is completed: `/restate/a/...` is the short form `@restatedev/restate-sdk-clients` uses. */
const AWAKEABLE_PREFIXES = ['/restate/awakeables', '/restate/a'] as const;

function awakeableRoute(backend: InvocationBackend, prefix: string, op: 'resolve' | 'reject'): IngressRoute {
  return {
    method: 'POST',
    pattern: `${prefix}/:id/${op}`,
    handler: async (ctx) => {
      const body = await ctx.body();
      try {
        await backend.completeAwakeable(
          ctx.params.id,
          op === 'resolve'
            ? { value: body }
            : { failure: { code: 500, message: Buffer.from(body).toString('utf8') || 'rejected' } },
        );
      } catch (err) {
        return failureReply(err);
      }
      return { status: 202 };
    },
  };
}

/**
 * Restate's `/restate/...` ingress routes over the engine: attach to / read the output of an invocation
 * (by id, by idempotency key, by workflow key; in the path, or in a POST body as Restate 1.7), look up an
 * invocation's id, and complete awakeables from outside.
 */
export function invocationRoutes(backend: InvocationBackend, schema: SchemaView): IngressRoute[] {
  return [
    ...(['attach', 'output'] as const).flatMap((mode) => [
      ...ATTACH_TARGETS.map((t) => attachRoute(backend, schema, mode, `${t.pattern}/${mode}`, t.query)),
      attachRoute(backend, schema, mode, `/restate/${mode}/:id`, (p) => ({ invocationId: p.id })),
      bodyAttachRoute(backend, schema, mode),
    ]),
    lookupRoute(),
    ...AWAKEABLE_PREFIXES.flatMap((prefix) =>
      (['resolve', 'reject'] as const).map((op) => awakeableRoute(backend, prefix, op)),
    ),
  ];
}
