import type { ControlOperation, InvocationBackend } from '@stead/core';
import { type AdminReply, type AdminRouter, errorReply } from './router.ts';

/** The answer for an error that names its HTTP status (InputError, ...); any other is rethrown (500). */
export function statusError(err: unknown): AdminReply {
  const status = (err as { status?: number }).status;
  if (typeof status === 'number') return errorReply(status, (err as Error).message);
  throw err;
}

function failed(id: string, outcome: { code: number; message: string }): AdminReply {
  return errorReply(outcome.code, outcome.code === 404 ? `invocation '${id}' not found` : outcome.message);
}

async function run(backend: InvocationBackend, id: string, op: ControlOperation, okStatus = 200): Promise<AdminReply> {
  try {
    const outcome = await backend.control(id, op);
    if (outcome.ok) return { status: okStatus };
    return failed(id, outcome);
  } catch (err) {
    return statusError(err);
  }
}

/**
 * The invocation lifecycle routes of Restate's admin API: cancel (graceful: the handler sees a
 * cancellation and may compensate), kill, purge (forget a completed invocation), purge-journal (drop only the
 * journal of a completed invocation), pause, resume, and the older `DELETE /invocations/{id}?mode=cancel|kill|purge`.
 */
export function mountInvocationRoutes(router: AdminRouter, backend: InvocationBackend): void {
  for (const op of ['cancel', 'kill', 'purge', 'purge-journal', 'pause', 'resume'] as const) {
    router.patch(`/invocations/:id/${op}`, (req) => run(backend, req.params.id, op));
  }
  router.patch('/invocations/:id/restart-as-new', async (req) => {
    const from = req.query.get('from');
    if (from !== null && from !== '0')
      return errorReply(
        400,
        `restarting from a journal prefix (from=${from}) is not supported; omit 'from' to restart from the input`,
      );
    if (req.query.get('deployment') !== null)
      return errorReply(400, "'deployment' can be used only together with 'from', which is not supported");
    try {
      const outcome = await backend.restartAsNew(req.params.id);
      if (!outcome.ok) return failed(req.params.id, outcome);
      return { status: 200, json: { new_invocation_id: new TextDecoder().decode(outcome.value) } };
    } catch (err) {
      return statusError(err);
    }
  });
  // Stead's JSON view of one invocation (status and journal) until it is purged at the end of its retention.
  // Restate offers the same only through SQL (`sys_invocation`, `sys_journal`); this route is an extension.
  router.get('/invocations/:id', async (req) => {
    if (!backend.describe) return errorReply(501, 'this server cannot describe invocations');
    try {
      const d = await backend.describe(req.params.id);
      if (d === undefined) return errorReply(404, `invocation '${req.params.id}' not found`);
      return { status: 200, json: d };
    } catch (err) {
      return statusError(err);
    }
  });
  router.delete('/invocations/:id', (req) => {
    const mode = req.query.get('mode') ?? 'cancel';
    if (mode !== 'cancel' && mode !== 'kill' && mode !== 'purge') {
      return errorReply(400, `unknown mode '${mode}'; expected cancel, kill or purge`);
    }
    return run(backend, req.params.id, mode, 202);
  });
}
