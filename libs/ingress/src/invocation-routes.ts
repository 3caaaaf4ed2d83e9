import type { HandlerSchema, InvocationBackend, InvocationOutcome, InvocationQuery, SchemaView } from '@stead/core';
import { type IngressReply, type IngressRoute, outcomeReply, statusErrorReply } from './server.ts';

function failureReply(err: unknown): IngressReply {
  const reply = statusErrorReply(err);
  if (reply !== undefined) return reply;
  throw err;
}

/**
 * Restate's `/restate/...` ingress routes over the engine: attach to / read the output of an invocation
 * (by id, by idempotency key, by workflow key) and complete awakeables from outside.
 */
export function invocationRoutes(backend: InvocationBackend, schema: SchemaView): IngressRoute[] {
  /** The handler whose output content type applies (unknown for a bare invocation id). */
  const handlerOf = (service?: string, handler?: string): HandlerSchema => {
    const h = service ? schema.service(service)?.handlers.find((x) => x.name === handler) : undefined;
    return h ?? { name: handler ?? '' };
  };
  const answer =
    (
      mode: 'attach' | 'output',
      query: (p: Record<string, string>) => InvocationQuery,
      handler: (p: Record<string, string>) => HandlerSchema,
    ) =>
    async (ctx: { params: Record<string, string>; signal: AbortSignal }): Promise<IngressReply> => {
      let res: { invocationId: string; outcome: InvocationOutcome };
      try {
        res = await backend.attach(query(ctx.params), mode, ctx.signal);
      } catch (err) {
        return failureReply(err);
      }
      return outcomeReply(handler(ctx.params), res.invocationId, res.outcome);
    };
  const routes: IngressRoute[] = [];
  for (const mode of ['attach', 'output'] as const) {
    routes.push(
      {
        method: 'GET',
        pattern: `/restate/invocation/:id/${mode}`,
        handler: answer(
          mode,
          (p) => ({ invocationId: p.id }),
          () => handlerOf(),
        ),
      },
      {
        method: 'GET',
        pattern: `/restate/workflow/:name/:key/${mode}`,
        handler: answer(
          mode,
          (p) => ({ workflow: { name: p.name, key: p.key } }),
          (p) => handlerOf(p.name, schema.service(p.name)?.handlers.find((h) => h.ty === 'WORKFLOW')?.name),
        ),
      },
      {
        method: 'GET',
        pattern: `/restate/invocation/:service/:handler/:idem/${mode}`,
        handler: answer(
          mode,
          (p) => ({ idempotent: { service: p.service, handler: p.handler, idempotencyKey: p.idem } }),
          (p) => handlerOf(p.service, p.handler),
        ),
      },
      {
        method: 'GET',
        pattern: `/restate/invocation/:service/:key/:handler/:idem/${mode}`,
        handler: answer(
          mode,
          (p) => ({ idempotent: { service: p.service, key: p.key, handler: p.handler, idempotencyKey: p.idem } }),
          (p) => handlerOf(p.service, p.handler),
        ),
      },
    );
  }
  for (const op of ['resolve', 'reject'] as const) {
    routes.push({
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
    });
  }
  return routes;
}
