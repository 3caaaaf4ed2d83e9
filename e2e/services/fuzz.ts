/**
 * SDK services the HTTP fuzz test sends its requests to (`--port N`): every handler takes and returns raw bytes, so
 * that any body is a valid input and no handler fails on its own; whatever status comes back is the server's.
 */
import * as restate from '@restatedev/restate-sdk';

const port = Number(process.argv[process.argv.indexOf('--port') + 1]);
const bytes = { input: restate.serde.binary, output: restate.serde.binary };

const echo = restate.service({
  name: 'Echo',
  handlers: {
    echo: restate.handlers.handler(bytes, async (_ctx: restate.Context, x: Uint8Array) => x),
  },
});

const box = restate.object({
  name: 'Box',
  handlers: {
    put: restate.handlers.object.exclusive(bytes, async (ctx: restate.ObjectContext, x: Uint8Array) => {
      ctx.set('v', Buffer.from(x).toString('base64'));
      return x;
    }),
    get: restate.handlers.object.shared(bytes, async (ctx: restate.ObjectSharedContext) =>
      Buffer.from((await ctx.get<string>('v')) ?? '', 'base64'),
    ),
  },
});

const flow = restate.workflow({
  name: 'Flow',
  handlers: {
    run: restate.handlers.workflow.workflow(bytes, async (_ctx: restate.WorkflowContext, x: Uint8Array) => x),
    peek: restate.handlers.workflow.shared(bytes, async (ctx: restate.WorkflowSharedContext) =>
      Buffer.from((await ctx.promise<string>('p').peek()) ?? ''),
    ),
  },
});

restate.serve({ services: [echo, box, flow], port }).catch((err: unknown) => {
  process.stderr.write(`the service failed to listen: ${String(err)}\n`);
  process.exit(1);
});
