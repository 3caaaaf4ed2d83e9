/**
 * An SDK endpoint that verifies request identity (`--port N`): it trusts the public key ids listed in
 * IDENTITY_KEYS (comma separated) and nothing else. Its service is named SERVICE_NAME (default `Signed`), so
 * that several such endpoints can be registered on one Stead. `greet` takes a journaled step and calls
 * `shout` through Stead: two invocation requests, each signed.
 */
import * as restate from '@restatedev/restate-sdk';

const port = Number(process.argv[process.argv.indexOf('--port') + 1]);
const name = process.env.SERVICE_NAME ?? 'Signed';
const identityKeys = (process.env.IDENTITY_KEYS ?? '').split(',').filter(Boolean);
if (identityKeys.length === 0) throw new Error('IDENTITY_KEYS must list at least one publickeyv1_ id');

const signed = restate.service({
  name,
  handlers: {
    greet: async (ctx: restate.Context, who: string) => {
      const greeting = await ctx.run('greeting', () => `hello ${who}`);
      return ctx.genericCall<string, string>({
        service: name,
        method: 'shout',
        parameter: greeting,
        inputSerde: restate.serde.json,
        outputSerde: restate.serde.json,
      });
    },
    shout: async (_ctx: restate.Context, s: string) => s.toUpperCase(),
  },
});

restate.serve({ services: [signed], port, identityKeys }).catch((err: unknown) => {
  process.stderr.write(`the service failed to listen: ${String(err)}\n`);
  process.exit(1);
});
