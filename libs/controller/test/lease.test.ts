import { afterEach, describe, expect, it } from '@jest/globals';
import { CLUSTER_KEYS, decodeLease, type LeaseHandle, runLease } from '@stead/controller';
import { SimClock, SimMetadataStore } from '@stead/testing/sim';

const RENEW_MS = 100;
const TIMEOUT_MS = 500;

let handles: { h: LeaseHandle; clock: SimClock }[] = [];
afterEach(async () => {
  for (const { h, clock } of handles) await drive(clock, h.stop());
  handles = [];
});

/** Awaits `p` while moving simulated time (a promise that waits on simulated timers never settles otherwise). */
async function drive<T>(clock: SimClock, p: Promise<T>): Promise<T> {
  let done = false;
  const settled = p.finally(() => {
    done = true;
  });
  while (!done) await clock.runAsync(clock.now() + 10, () => done);
  return settled;
}

function setup() {
  const clock = new SimClock(1_000);
  const store = new SimMetadataStore({ clock, latencyMs: 2 });
  const lease = (name: string, instance = `${name}-1`) => {
    const client = store.client(name);
    const h = runLease({
      client,
      nodeId: name,
      instance,
      renewMs: RENEW_MS,
      leaseTimeoutMs: TIMEOUT_MS,
      clock,
      timers: clock,
    });
    handles.push({ h, clock });
    return { h, client };
  };
  return { clock, store, lease };
}

describe('controller lease', () => {
  it('one of two contenders holds it and keeps it while it renews', async () => {
    const { clock, store, lease } = setup();
    const a = lease('a');
    const b = lease('b');
    let both = false;
    for (let t = clock.now(); t < 5_000; t += 10) {
      await clock.runAsync(t);
      if (a.h.holding() && b.h.holding()) both = true;
    }
    expect(both).toBe(false);
    const holders = [a, b].filter((x) => x.h.holding());
    expect(holders).toHaveLength(1);
    const term = holders[0].h.term();
    // Renewed all along: many lease writes, all by the holder, one term.
    const writes = store.writes.filter((w) => w.key === CLUSTER_KEYS.controllerLease);
    expect(writes.length).toBeGreaterThan(20);
    expect(new Set(writes.map((w) => w.by))).toEqual(new Set([holders[0].client.name]));
    expect(term).toBe(writes[0].version);
    const other = [a, b].find((x) => !x.h.holding())!;
    expect(other.h.status()).toEqual({ holding: false, holder: holders[0].client.name });
  });

  it('a holder cut off from the store deposes itself before a contender takes over', async () => {
    const { clock, lease } = setup();
    const a = lease('a');
    await clock.runAsync(clock.now() + 50);
    expect(a.h.holding()).toBe(true);
    const b = lease('b');
    await clock.runAsync(clock.now() + 1_000);
    expect(b.h.holding()).toBe(false);

    const cutAt = clock.now();
    a.client.down = true;
    let aLostAt: number | undefined;
    let bGotAt: number | undefined;
    a.h.onChange((s) => {
      if (!s.holding) aLostAt = clock.now();
    });
    b.h.onChange((s) => {
      if (s.holding) bGotAt = clock.now();
    });
    for (let t = clock.now(); t < cutAt + 3_000 && bGotAt === undefined; t += 5) {
      await clock.runAsync(t);
      expect(a.h.holding() && b.h.holding()).toBe(false);
    }
    expect(aLostAt).toBeDefined();
    expect(bGotAt).toBeDefined();
    expect(aLostAt!).toBeLessThanOrEqual(cutAt + TIMEOUT_MS);
    expect(bGotAt!).toBeGreaterThan(aLostAt!);
    expect(bGotAt! - cutAt).toBeLessThanOrEqual(TIMEOUT_MS + 2 * RENEW_MS + 20);
    expect(b.h.term()).toBeGreaterThan(0);

    // Back online, the old holder finds the lease taken and stays a contender.
    a.client.down = false;
    await clock.runAsync(clock.now() + 2_000);
    expect(a.h.holding()).toBe(false);
    expect(b.h.holding()).toBe(true);
  });

  it('a released lease is taken at once; a restarted process (new instance) waits like anyone', async () => {
    const { clock, store, lease } = setup();
    const a = lease('a');
    await clock.runAsync(clock.now() + 50);
    const b = lease('b');
    await clock.runAsync(clock.now() + 300);
    const stoppedAt = clock.now();
    await drive(clock, a.h.stop({ release: true }));
    const released = store.peek(CLUSTER_KEYS.controllerLease)!;
    expect(decodeLease(CLUSTER_KEYS.controllerLease, released.value)).toMatchObject({ nodeId: 'a', released: true });
    await clock.runAsync(clock.now() + RENEW_MS + 20, () => b.h.holding());
    expect(b.h.holding()).toBe(true);
    expect(clock.now() - stoppedAt).toBeLessThan(TIMEOUT_MS);

    // b "restarts" with a new instance without releasing: the new one must wait out the timeout.
    b.client.down = true;
    const b2 = lease('b', 'b-2');
    const startedAt = clock.now();
    await clock.runAsync(clock.now() + 3_000, () => b2.h.holding());
    expect(b2.h.holding()).toBe(true);
    expect(clock.now() - startedAt).toBeGreaterThanOrEqual(TIMEOUT_MS);
  });

  it('a lease value that does not decode is taken over after the timeout', async () => {
    const { clock, store, lease } = setup();
    await drive(clock, store.client('x').put(CLUSTER_KEYS.controllerLease, new Uint8Array([0xff, 0xff, 0xff])));
    const a = lease('a');
    const startedAt = clock.now();
    await clock.runAsync(clock.now() + 2_000, () => a.h.holding());
    expect(a.h.holding()).toBe(true);
    expect(clock.now() - startedAt).toBeGreaterThanOrEqual(TIMEOUT_MS);
  });

  it('refuses a timeout shorter than two renew intervals', () => {
    const { clock, store } = setup();
    expect(() =>
      runLease({
        client: store.client('a'),
        nodeId: 'a',
        instance: 'i',
        renewMs: 100,
        leaseTimeoutMs: 150,
        clock,
        timers: clock,
      }),
    ).toThrow(/at least twice the renew interval/);
  });
});
