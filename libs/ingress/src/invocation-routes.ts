import type { HandlerSchema, InvocationBackend, InvocationOutcome, InvocationQuery, SchemaView } from '@stead/core';
import { type IngressReply, type IngressRoute, outcomeReply, statusErrorReply } from './server.ts';

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

/** How each `/restate/.../{attach,output}` path names an invocation, and which handler's output it has. */
const ATTACH_TARGETS: {
  pattern: string;
  query: (p: Params) => InvocationQuery;
  handler: (schema: SchemaView, p: Params) => HandlerSchema;
}[] = [
  {
    pattern: '/restate/invocation/:id',
    query: (p) => ({ invocationId: p.id }),
    handler: (schema) => handlerOf(schema),
  },
  {
    pattern: '/restate/workflow/:name/:key',
    query: (p) => ({ workflow: { name: p.name, key: p.key } }),
    handler: (schema, p) =>
      handlerOf(schema, p.name, schema.service(p.name)?.handlers.find((h) => h.ty === 'WORKFLOW')?.name),
  },
  {
    pattern: '/restate/invocation/:service/:handler/:idem',
    query: (p) => ({ idempotent: { service: p.service, handler: p.handler, idempotencyKey: p.idem } }),
    handler: (schema, p) => handlerOf(schema, p.service, p.handler),
  },
  {
    pattern: '/restate/invocation/:service/:key/:handler/:idem',
    query: (p) => ({ idempotent: { service: p.service, key: p.key, handler: p.handler, idempotencyKey: p.idem } }),
    handler: (schema, p) => handlerOf(schema, p.service, p.handler),
  },
];

function attachRoute(
  backend: InvocationBackend,
  schema: SchemaView,
  mode: 'attach' | 'output',
  target: (typeof ATTACH_TARGETS)[number],
): IngressRoute {
  return {
    method: 'GET',
    pattern: `${target.pattern}/${mode}`,
    handler: async (ctx) => {
      let res: { invocationId: string; outcome: InvocationOutcome };
      try {
        res = await backend.attach(target.query(ctx.params), mode, ctx.signal);
      } catch (err) {
        return failureReply(err);
      }
      return outcomeReply(target.handler(schema, ctx.params), res.invocationId, res.outcome);
    },
  };
}

function awakeableRoute(backend: InvocationBackend, op: 'resolve' | 'reject'): IngressRoute {
  return {
    method: 'POST',
    pattern: `/restate/awakeables/:id/${op}`,
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
 * (by id, by idempotency key, by workflow key) and complete awakeables from outside.
 */
export function invocationRoutes(backend: InvocationBackend, schema: SchemaView): IngressRoute[] {
  return [
    ...(['attach', 'output'] as const).flatMap((mode) =>
      ATTACH_TARGETS.map((target) => attachRoute(backend, schema, mode, target)),
    ),
    ...(['resolve', 'reject'] as const).map((op) => awakeableRoute(backend, op)),
  ];
}
