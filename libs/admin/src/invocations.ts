import type { ControlOperation, InvocationBackend } from '@stead/core';
import { type AdminReply, type AdminRouter, errorReply } from './router.ts';

async function run(backend: InvocationBackend, id: string, op: ControlOperation, okStatus = 200): Promise<AdminReply> {
  try {
    const outcome = await backend.control(id, op);
    if (outcome.ok) return { status: okStatus };
    return errorReply(outcome.code, outcome.code === 404 ? `invocation '${id}' not found` : outcome.message);
  } catch (err) {
    const status = (err as { status?: number }).status;
    if (typeof status === 'number') return errorReply(status, (err as Error).message);
    throw err;
  }
}

/**
 * The invocation lifecycle routes of Restate's admin API: cancel (graceful: the handler sees a
 * cancellation and may compensate), kill, purge (forget a completed invocation), pause, resume, and the
 * older `DELETE /invocations/{id}?mode=cancel|kill|purge`.
 */
export function mountInvocationRoutes(router: AdminRouter, backend: InvocationBackend): void {
  for (const op of ['cancel', 'kill', 'purge', 'pause', 'resume'] as const) {
    router.patch(`/invocations/:id/${op}`, (req) => run(backend, req.params.id, op));
  }
  router.delete('/invocations/:id', (req) => {
    const mode = req.query.get('mode') ?? 'cancel';
    if (mode !== 'cancel' && mode !== 'kill' && mode !== 'purge') {
      return errorReply(400, `unknown mode '${mode}'; expected cancel, kill or purge`);
    }
    return run(backend, req.params.id, mode, 202);
  });
}
