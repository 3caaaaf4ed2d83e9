/**
 * An SDK service that answers with the request headers its handler sees (`ctx.request().headers`), for
 * e2e/test/http-auth.test.ts: headers the ingress never journals must not reach it. Served by a separate process
 * (`--port N`).
 */
import * as restate from '@restatedev/restate-sdk';

const port = Number(process.argv[process.argv.indexOf('--port') + 1]);

const headers = restate.service({
  name: 'Headers',
  handlers: {
    seen: async (ctx: restate.Context) => {
      const seen = Object.fromEntries(ctx.request().headers);
      // A journaled step that repeats them, so that the journal bytes would hold them if the ingress passed them.
      await ctx.run('record', () => JSON.stringify(seen));
      return seen;
    },
  },
});

restate.serve({ services: [headers], port }).catch((err: unknown) => {
  process.stderr.write(`the service failed to listen: ${String(err)}\n`);
  process.exit(1);
});
