// The SDK service both servers run in the benchmark: `steps(n)` takes n journaled `ctx.run` steps.
import * as restate from '@restatedev/restate-sdk';

const port = Number(process.argv[process.argv.indexOf('--port') + 1]);

const bench = restate.service({
  name: 'Bench',
  handlers: {
    steps: async (ctx: restate.Context, n: number) => {
      let sum = 0;
      for (let i = 0; i < n; i++) sum += await ctx.run(`step-${i}`, () => i);
      return sum;
    },
  },
});

restate.serve({ services: [bench], port }).catch((err: unknown) => {
  process.stderr.write(`the service failed to listen: ${String(err)}\n`);

  process.exit(1);
});
