import type { ControlOperation, InvocationBackend, RestartOptions } from '@stead/core';
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
    const opts = restartOptions(req.query);
    if (typeof opts === 'string') return errorReply(400, opts);
    try {
      const outcome = await backend.restartAsNew(req.params.id, opts);
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

/**
 * The query of restart-as-new: `from` (a journal entry index, u32) and, only with `from` > 0, `deployment`:
 * `latest` (the default), `keep`, or a deployment id (also spelled `deployment[Id]=...`, how an enum's id variant
 * reads as a query). Restate's spellings `Latest`/`Keep` and any letter case are accepted. A string: why not.
 */
export function restartOptions(query: URLSearchParams): RestartOptions | string {
  const fromText = query.get('from');
  let from: number | undefined;
  if (fromText !== null && fromText !== '') {
    from = /^\d{1,10}$/.test(fromText) ? Number(fromText) : Number.NaN;
    if (!(from <= 0xffffffff))
      return `'from' must be a journal entry index (an integer from 0 to 4294967295), not '${fromText}'`;
  }
  const id = query.get('deployment[Id]') ?? query.get('deployment[id]');
  const text = id === null ? query.get('deployment') : null;
  if (id === null && (text === null || text === '')) return from === undefined ? {} : { from };
  if (!from)
    return "'deployment' can be used only together with 'from' greater than 0 (a restart from the input runs on the latest deployment)";
  if (id !== null) return id === '' ? "'deployment[Id]' is empty" : { from, deployment: { id } };
  const lower = (text as string).toLowerCase();
  if (lower === 'latest' || lower === 'keep') return { from, deployment: lower };
  return { from, deployment: { id: text as string } };
}
