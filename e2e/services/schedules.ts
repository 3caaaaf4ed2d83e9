/**
 * The SDK service the schedule e2e test targets (`--port N`): `record` appends "<tick> <invocation id>
 * <idempotency key>" to the file its input names, from the headers every schedule tick carries; `slow` runs for a
 * while and notes when it started and ended.
 */
import { appendFileSync } from 'node:fs';
import * as restate from '@restatedev/restate-sdk';

const port = Number(process.argv[process.argv.indexOf('--port') + 1]);

const ticks = restate.service({
  name: 'Ticks',
  handlers: {
    record: async (ctx: restate.Context, req: { file: string }) => {
      const h = ctx.request().headers;
      const line = `${h.get('x-stead-schedule-tick')} ${ctx.request().id} ${h.get('idempotency-key')}`;
      // Not in ctx.run: a retried attempt writes the line again, with the same invocation id (the checker tells
      // a retry of one tick's invocation from a second invocation of the same tick).
      appendFileSync(req.file, `${line}\n`);
    },
    /** Takes `ms` (not durably: the invocation stays running), writing "start|end <tick> <epoch ms>" to `file`. */
    slow: async (ctx: restate.Context, req: { file: string; ms: number }) => {
      const tick = ctx.request().headers.get('x-stead-schedule-tick');
      appendFileSync(req.file, `start ${tick} ${Date.now()}\n`);
      await new Promise((resolve) => setTimeout(resolve, req.ms));
      appendFileSync(req.file, `end ${tick} ${Date.now()}\n`);
    },
  },
});

restate.serve({ services: [ticks], port }).catch((err: unknown) => {
  process.stderr.write(`the service failed to listen: ${String(err)}\n`);
  process.exit(1);
});
