/**
 * SDK services for the retention / per-service options e2e (`--port N`). With `STEAD_RR=1` the endpoint is
 * served in request/response protocol mode (the SDK's fetch handler, `bidirectional: false`, over HTTP/2, the
 * request handed over once complete), so that the server must send the whole journal as one request and start
 * a new request when a completion arrives.
 * Handlers record each attempt in the file the caller names, so tests count attempts exactly.
 */
import { appendFileSync, existsSync } from 'node:fs';
import * as http2 from 'node:http2';
import { setTimeout as sleep } from 'node:timers/promises';
import * as restate from '@restatedev/restate-sdk';
import { createEndpointHandler as createFetchHandler } from '@restatedev/restate-sdk/fetch';

const port = Number(process.argv[process.argv.indexOf('--port') + 1]);
const record = (file: string, line: string) => appendFileSync(file, `${line}\n`);

type Ctx = restate.Context;

/** Fails (retryably) on every attempt while `<file>.fail` exists. */
const flaky = async (_ctx: Ctx, req: { file: string }) => {
  record(req.file, 'attempt');
  if (existsSync(`${req.file}.fail`)) throw new Error('flaky: failing on purpose');
  return 'ok';
};

const opts = restate.service({
  name: 'Opts',
  handlers: {
    /** Kept for 1 minute after completion (manifest, handler level). */
    echo: restate.handlers.handler({ journalRetention: 60_000 }, async (_ctx: Ctx, x: unknown) => x),

    /** Retries 3 times at most (manifest, handler level), then pauses. */
    pausing: restate.handlers.handler(
      { retryPolicy: { maxAttempts: 3, initialInterval: 20, onMaxAttempts: 'pause' } },
      flaky,
    ),

    /** Retries 2 times at most (manifest, handler level), then is killed. */
    killing: restate.handlers.handler(
      { retryPolicy: { maxAttempts: 2, initialInterval: 20, onMaxAttempts: 'kill' } },
      flaky,
    ),

    /** Records the attempt, then blocks outside of any journal step for `ms` (stalls the stream). */
    stall: async (_ctx: Ctx, req: { file: string; ms: number }) => {
      record(req.file, 'attempt');
      await sleep(req.ms);
      return 'done';
    },

    /** Same, with a 300ms inactivity and abort timeout from the manifest (handler level). */
    stallShort: restate.handlers.handler(
      { inactivityTimeout: 300, abortTimeout: 300 },
      async (_ctx: Ctx, req: { file: string; ms: number }) => {
        record(req.file, 'attempt');
        await sleep(req.ms);
        return 'done';
      },
    ),

    /** Sends `x` to `echo` from a handler; answers the id of that invocation. */
    sendEcho: async (ctx: Ctx, x: unknown) => {
      const handle = ctx.genericSend({ service: 'Opts', method: 'echo', parameter: x, inputSerde: restate.serde.json });
      return await handle.invocationId;
    },

    /** A run and a durable sleep: in request/response mode each completion needs a new request. */
    runAndSleep: async (ctx: Ctx, req: { file: string }) => {
      const a = await ctx.run('first', () => {
        record(req.file, 'run');
        return 20;
      });
      await ctx.sleep(200);
      const b = await ctx.run('second', () => 22);
      return a + b;
    },
  },
});

const services = [opts];
if (process.env.STEAD_RR === '1') {
  // Request/response, as behind Lambda or a buffering proxy: the SDK's fetch handler gets the request only once
  // its body is complete, and the response is sent in one piece.
  const handle = createFetchHandler({ services, bidirectional: false });
  const server = http2.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers))
      if (!k.startsWith(':') && typeof v === 'string') headers.set(k, v);
    const response = await handle(
      new Request(`http://127.0.0.1:${port}${req.url}`, {
        method: req.method,
        headers,
        body: req.method === 'GET' || req.method === 'HEAD' ? undefined : Buffer.concat(chunks),
      }),
    );
    const body = Buffer.from(await response.arrayBuffer());
    res.writeHead(response.status, Object.fromEntries(response.headers));
    res.end(body);
  });
  server.listen(port, '127.0.0.1');
} else {
  restate.serve({ services, port }).catch((err: unknown) => {
    process.stderr.write(`the service failed to listen: ${String(err)}\n`);
    process.exit(1);
  });
}
