/**
 * SDK services for the web UI's browser tests (e2e/test/ui.test.ts) and its screenshots: a chain of calls whose
 * last callee waits, a step that always fails, a virtual object whose key is locked with invocations queued
 * behind it, a workflow waiting on its promise, and a handler that sleeps (to be cancelled).
 * Served by a separate process (`--port N`).
 */
import * as restate from '@restatedev/restate-sdk';

const port = Number(process.argv[process.argv.indexOf('--port') + 1]);

type Ctx = restate.Context;

interface Order {
  id: string;
  amount: number;
}

/** The bottom of the chain: waits for an approval (an awakeable nobody resolves in the tests). */
const bank = restate.service({
  name: 'Bank',
  handlers: {
    authorize: async (ctx: Ctx, order: Order) => {
      const { id, promise } = ctx.awakeable<boolean>();
      await ctx.run('request-approval', () => `approval ${id} for ${order.id}`);
      return promise;
    },
  },
});

const payments = restate.service({
  name: 'Payments',
  handlers: {
    charge: async (ctx: Ctx, order: Order) => {
      await ctx.run('check-fraud', () => order.amount < 10_000);
      const approved = await ctx.serviceClient(bank).authorize(order);
      return approved ? 'charged' : 'declined';
    },
  },
});

/** The top of the chain: Orders.place → Payments.charge → Bank.authorize. */
const orders = restate.service({
  name: 'Orders',
  handlers: {
    place: async (ctx: Ctx, order: Order) => {
      await ctx.run('reserve-stock', () => `reserved for ${order.id}`);
      const paid = await ctx.serviceClient(payments).charge(order);
      ctx.serviceSendClient(shipping).label(order);
      return paid;
    },
  },
});

/** A step that fails on every attempt: the invocation retries with backoff. */
const shipping = restate.service({
  name: 'Shipping',
  handlers: {
    label: async (ctx: Ctx, order: Order) => {
      await ctx.run('validate-address', () => true);
      await ctx.run('print-label', () => {
        throw new Error(`label printer offline (order ${order.id})`);
      });
      return 'printed';
    },
  },
});

/** A virtual object: `checkout` holds the key's lock while it sleeps; `add` calls queue behind it. */
const cart = restate.object({
  name: 'Cart',
  handlers: {
    add: async (ctx: restate.ObjectContext, item: string) => {
      const items = [...((await ctx.get<string[]>('items')) ?? []), item];
      ctx.set('items', items);
      return items;
    },
    checkout: async (ctx: restate.ObjectContext, req: { holdMs: number }) => {
      ctx.set('status', 'checking-out');
      await ctx.sleep(req.holdMs);
      ctx.set('status', 'done');
      return (await ctx.get<string[]>('items')) ?? [];
    },
    get: restate.handlers.object.shared(
      async (ctx: restate.ObjectSharedContext) => (await ctx.get<string[]>('items')) ?? [],
    ),
  },
});

const signup = restate.workflow({
  name: 'Signup',
  handlers: {
    run: async (ctx: restate.WorkflowContext, email: string) => {
      ctx.set('email', email);
      const link = await ctx.promise<string>('email-confirmed');
      ctx.set('confirmed', link);
      return `welcome ${email}`;
    },
    confirm: async (ctx: restate.WorkflowSharedContext, link: string) => {
      await ctx.promise<string>('email-confirmed').resolve(link);
    },
  },
});

/** Sleeps durably: a long-lived invocation to cancel. */
const reminders = restate.service({
  name: 'Reminders',
  handlers: {
    remind: async (ctx: Ctx, req: { inMs: number; text: string }) => {
      await ctx.run('schedule', () => req.text);
      await ctx.sleep(req.inMs);
      return req.text;
    },
  },
});

restate.serve({ services: [orders, payments, bank, shipping, cart, signup, reminders], port }).catch((err: unknown) => {
  process.stderr.write(`the service failed to listen: ${String(err)}\n`);
  process.exit(1);
});
