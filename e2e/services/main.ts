/**
 * SDK services used by the e2e tests, served by a separate process (`--port N`) so that tests can kill it.
 * Handlers record side effects in files named by the caller, so tests count executions exactly.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import * as restate from '@restatedev/restate-sdk';

const port = Number(process.argv[process.argv.indexOf('--port') + 1]);

const record = (file: string, line: string) => appendFileSync(file, `${line}\n`);

type Ctx = restate.Context;

const receiver = restate.service({
  name: 'Receiver',
  handlers: {
    record: async (ctx: Ctx, req: { file: string; tag: string }) => {
      await ctx.run('record', () => record(req.file, `${req.tag} ${Date.now()}`));
    },
  },
});

const test = restate.service({
  name: 'Test',
  handlers: {
    echo: async (_ctx: Ctx, x: unknown) => x,

    /** n sequential steps; each writes "step i" to `file`, then takes `stepMs`. */
    steps: async (ctx: Ctx, req: { n: number; file: string; stepMs?: number }) => {
      let sum = 0;
      for (let i = 0; i < req.n; i++) {
        sum += await ctx.run(`step-${i}`, async () => {
          record(req.file, `step ${i}`);
          if (req.stepMs) await sleep(req.stepMs);
          return i;
        });
      }
      return sum;
    },

    /** A step that fails twice, then succeeds; attempts are counted in `file`. */
    flaky: async (ctx: Ctx, req: { file: string }) => {
      return ctx.run(
        'flaky',
        () => {
          record(req.file, 'attempt');
          const attempts = readFileSync(req.file, 'utf8').trim().split('\n').length;
          if (attempts < 3) throw new Error(`attempt ${attempts} fails`);
          return `succeeded after ${attempts} attempts`;
        },
        { initialRetryInterval: 50 },
      );
    },

    fail: async (_ctx: Ctx, req: { code: number; message: string }) => {
      throw new restate.TerminalError(req.message, { errorCode: req.code });
    },

    /** Calls itself `depth` times; returns the depth reached. */
    chain: async (ctx: Ctx, depth: number): Promise<number> => {
      if (depth <= 0) return 0;
      return 1 + (await ctx.serviceClient(test).chain(depth - 1));
    },

    fanout: async (ctx: Ctx, n: number): Promise<number> => {
      const calls = Array.from(
        { length: n },
        (_, i) => ctx.serviceClient(test).echo(i) as restate.RestatePromise<number>,
      );
      const results = await restate.RestatePromise.all(calls);
      return results.reduce((a, b) => a + b, 0);
    },

    /** One-way send to Receiver, optionally delayed. */
    sendTo: async (ctx: Ctx, req: { file: string; tag: string; delayMs?: number }) => {
      const send = ctx.serviceSendClient(receiver);
      const arg = { file: req.file, tag: req.tag };
      if (req.delayMs) send.record(arg, restate.rpc.sendOpts({ delay: req.delayMs }));
      else send.record(arg);
      return Date.now();
    },

    /** A step that asks to pause the invocation (v7), recording each attempt in `file`. */
    pauseStep: async (ctx: Ctx, req: { file: string }) =>
      ctx.run('needs a human', () => {
        record(req.file, 'attempt');
        throw new restate.PauseError('waiting for an operator');
      }),

    /**
     * Waits on two timers at once (Promise.all), recording each attempt; asked to suspend after 100 ms of
     * silence, so each attempt ends in a suspension until both timers fired.
     */
    sleepBoth: restate.handlers.handler(
      { inactivityTimeout: 100 },
      async (ctx: Ctx, req: { file: string; firstMs: number; secondMs: number }) => {
        record(req.file, 'attempt');
        await restate.RestatePromise.all([ctx.sleep(req.firstMs), ctx.sleep(req.secondMs)]);
        return 'both fired';
      },
    ),

    /** Durable sleep, recording before and after. */
    sleep: async (ctx: Ctx, req: { ms: number; file?: string }) => {
      if (req.file) await ctx.run('before', () => record(req.file!, 'before'));
      await ctx.sleep(req.ms);
      if (req.file) await ctx.run('after', () => record(req.file!, 'after'));
      return 'slept';
    },
  },
});

const counter = restate.object({
  name: 'Counter',
  handlers: {
    /** Read-modify-write with a pause in between: lost updates would show if two ran at once. */
    add: async (ctx: restate.ObjectContext, n: number) => {
      const v = (await ctx.get<number>('v')) ?? 0;
      await ctx.run('pause', () => sleep(5));
      ctx.set('v', v + n);
      return v + n;
    },
    slowAdd: async (ctx: restate.ObjectContext, req: { n: number; ms: number }) => {
      const v = (await ctx.get<number>('v')) ?? 0;
      await ctx.sleep(req.ms);
      ctx.set('v', v + req.n);
      return v + req.n;
    },
    get: restate.handlers.object.shared(async (ctx: restate.ObjectSharedContext) => (await ctx.get<number>('v')) ?? 0),
    keys: restate.handlers.object.shared(async (ctx: restate.ObjectSharedContext) => (await ctx.stateKeys()).sort()),
    reset: async (ctx: restate.ObjectContext) => ctx.clearAll(),
    setBig: async (ctx: restate.ObjectContext, size: number) => {
      ctx.set('big', 'b'.repeat(size));
      return size;
    },
  },
});

const signup = restate.workflow({
  name: 'Signup',
  handlers: {
    run: async (ctx: restate.WorkflowContext, req: { email: string; file?: string }) => {
      if (req.file) await ctx.run('start', () => record(req.file!, 'run'));
      ctx.set('status', 'waiting');
      const code = await ctx.promise<string>('code');
      ctx.set('status', 'confirmed');
      return `${req.email}:${code}`;
    },
    confirm: async (ctx: restate.WorkflowSharedContext, code: string) => {
      await ctx.promise<string>('code').resolve(code);
    },
    status: async (ctx: restate.WorkflowSharedContext) => (await ctx.get<string>('status')) ?? 'none',
    peek: async (ctx: restate.WorkflowSharedContext) => (await ctx.promise<string>('code').peek()) ?? null,
  },
});

const waiter = restate.service({
  name: 'Waiter',
  handlers: {
    /** Creates an awakeable, writes its id to `file`, returns what it is resolved with. */
    wait: async (ctx: Ctx, req: { file: string }) => {
      const { id, promise } = ctx.awakeable<string>();
      await ctx.run('publish', () => record(req.file, id));
      try {
        return await promise;
      } catch (e) {
        if (e instanceof restate.TerminalError && e.code === 409) {
          await ctx.run('compensate', () => record(req.file, 'compensated'));
        }
        throw e;
      }
    },
    resolve: async (ctx: Ctx, req: { id: string; value: string }) => {
      ctx.resolveAwakeable(req.id, req.value);
    },
    reject: async (ctx: Ctx, req: { id: string; reason: string }) => {
      ctx.rejectAwakeable(req.id, req.reason);
    },
    /** Sleeps, compensating (recording) when cancelled. */
    sleepy: async (ctx: Ctx, req: { ms: number; file: string }) => {
      await ctx.run('start', () => {
        record(`${req.file}.version`, process.env.SERVICE_VERSION ?? 'v1');
        record(req.file, 'started');
      });
      try {
        await ctx.sleep(req.ms);
        return 'slept';
      } catch (e) {
        await ctx.run('compensate', () => record(req.file, 'compensated'));
        throw e;
      }
    },
    /** Calls sleepy and waits for it (cancelling this cancels the callee too). */
    callSleepy: async (ctx: Ctx, req: { ms: number; file: string; childFile: string }): Promise<string> => {
      await ctx.run('start', () => record(req.file, 'started'));
      try {
        return await ctx.genericCall<{ ms: number; file: string }, string>({
          service: 'Waiter',
          method: 'sleepy',
          parameter: { ms: req.ms, file: req.childFile },
          inputSerde: restate.serde.json,
          outputSerde: restate.serde.json,
        });
      } catch (e) {
        await ctx.run('compensate', () => record(req.file, 'compensated'));
        throw e;
      }
    },
    /** Waits for another invocation's result by id (ctx.attach) and returns it. */
    attachTo: async (ctx: Ctx, id: string) => ctx.attach<unknown>(id as restate.InvocationId),
    /** Cancels another invocation from a handler. */
    cancel: async (ctx: Ctx, id: string) => {
      ctx.cancel(id as restate.InvocationId);
    },
  },
});

const versioned = restate.service({
  name: 'Versioned',
  handlers: {
    which: async (ctx: Ctx, ms: number) => {
      if (ms > 0) await ctx.sleep(ms);
      return process.env.SERVICE_VERSION ?? 'v1';
    },
  },
});

/** Issue 10 (admission): handlers that hold an attempt open, and a tally of what ran. */
const gate = restate.service({
  name: 'Gate',
  handlers: {
    /** Writes "start i", polls (outside the journal) until `release` exists, writes "end i". */
    hold: async (_ctx: Ctx, req: { file: string; release: string; i: number }) => {
      record(req.file, `start ${req.i}`);
      while (!existsSync(req.release)) await sleep(20);
      record(req.file, `end ${req.i}`);
      return req.i;
    },
  },
});

const tally = restate.object({
  name: 'Tally',
  handlers: {
    add: async (ctx: restate.ObjectContext, tag: string) => {
      ctx.set('tags', [...((await ctx.get<string[]>('tags')) ?? []), tag]);
    },
    list: restate.handlers.object.shared(
      async (ctx: restate.ObjectSharedContext) => (await ctx.get<string[]>('tags')) ?? [],
    ),
  },
});

restate
  .serve({ services: [test, receiver, counter, signup, waiter, versioned, gate, tally], port })
  .catch((err: unknown) => {
    process.stderr.write(`the service failed to listen: ${String(err)}\n`);

    process.exit(1);
  });
