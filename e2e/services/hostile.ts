/**
 * SDK handlers that hand the server malformed ids (the SDK checks only their prefix), served by a separate
 * process (`--port N`). The server must fail such an invocation, never stop.
 */
import * as restate from '@restatedev/restate-sdk';

const port = Number(process.argv[process.argv.indexOf('--port') + 1]);

type Ctx = restate.Context;

const hostile = restate.service({
  name: 'Hostile',
  handlers: {
    echo: async (_ctx: Ctx, x: unknown) => x,
    /** ctx.attach (deprecated form) to whatever id it is given. */
    attach: async (ctx: Ctx, id: string) => ctx.attach<unknown>(id as restate.InvocationId),
    /** The 1.17 form: ctx.invocation(id).attach(). */
    attachRef: async (ctx: Ctx, id: string) => ctx.invocation(id as restate.InvocationId).attach<unknown>(),
    /** Cancels whatever id it is given (a SendSignal command). */
    cancel: async (ctx: Ctx, id: string) => {
      ctx.invocation(id as restate.InvocationId).cancel();
      return 'sent';
    },
    /** Resolves whatever awakeable id it is given. */
    resolve: async (ctx: Ctx, id: string) => {
      ctx.resolveAwakeable(id, 'x');
      return 'resolved';
    },
  },
});

restate.serve({ services: [hostile], port }).catch((err: unknown) => {
  process.stderr.write(`the service failed to listen: ${String(err)}\n`);

  process.exit(1);
});
