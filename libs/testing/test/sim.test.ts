import { describe, expect, it } from '@jest/globals';
import { Prng, parseSeed, runNightly, SimClock, SimNetwork, type Simulation, type Timers } from '@stead/testing/sim';

describe('Prng', () => {
  it('gives the same sequence for the same seed and another for another seed', () => {
    const draw = (seed: number) => {
      const r = new Prng(seed);
      return Array.from({ length: 5 }, () => r.next());
    };
    expect(draw(1)).toEqual(draw(1));
    expect(draw(1)).not.toEqual(draw(2));
    const r = new Prng(3);
    for (let i = 0; i < 100; i++) {
      const n = r.int(2, 4);
      expect(n >= 2 && n <= 4 && Number.isInteger(n)).toBe(true);
    }
  });
});

describe('SimClock', () => {
  it('fires timers in time order, equal times in the order they were set, and skips cleared ones', () => {
    const clock = new SimClock();
    const fired: string[] = [];
    clock.setTimeout(() => fired.push('b@20'), 20);
    clock.setTimeout(() => fired.push('a@10'), 10);
    clock.setTimeout(() => fired.push('c@20'), 20);
    const h = clock.setTimeout(() => fired.push('cleared'), 15);
    clock.clearTimeout(h);
    clock.clearTimeout(h); // twice is harmless
    expect(clock.pending).toBe(3);
    clock.advance(15);
    expect(fired).toEqual(['a@10']);
    expect(clock.now()).toBe(15);
    clock.advance(5);
    expect(fired).toEqual(['a@10', 'b@20', 'c@20']);
    expect(clock.now()).toBe(20);
    expect(clock.pending).toBe(0);
  });

  it('runs timers set by timers, and runUntilIdle stops a timer that re-arms forever', () => {
    const clock = new SimClock();
    let n = 0;
    const tick = () => {
      n++;
      if (n < 5) clock.setTimeout(tick, 10);
    };
    clock.setTimeout(tick, 10);
    clock.runUntilIdle();
    expect(n).toBe(5);
    expect(clock.now()).toBe(50);
    const forever = () => clock.setTimeout(forever, 1);
    forever();
    expect(() => clock.runUntilIdle(100)).toThrow(/still busy/);
  });

  it('satisfies the Timers shape the partition leader takes', () => {
    const timers: Timers = new SimClock();
    let ran = false;
    timers.clearTimeout(timers.setTimeout(() => {}, 1));
    timers.setTimeout(() => {
      ran = true;
    }, 1);
    (timers as SimClock).advance(1);
    expect(ran).toBe(true);
  });

  it('runAsync lets promise reactions run between timers and stops when asked', async () => {
    const clock = new SimClock();
    const seen: number[] = [];
    const sleep = (ms: number) => new Promise<void>((r) => clock.setTimeout(r, ms));
    void (async () => {
      for (let i = 0; i < 3; i++) {
        await sleep(10);
        seen.push(clock.now());
      }
    })();
    await clock.runAsync(1_000, () => seen.length === 2);
    expect(seen).toEqual([10, 20]);
    await clock.runAsync(1_000);
    expect(seen).toEqual([10, 20, 30]);
    expect(clock.now()).toBe(1_000);
  });
});

describe('SimNetwork', () => {
  const setup = (opts: { loss?: number; duplicate?: number } = {}) => {
    const clock = new SimClock();
    const net = new SimNetwork({ clock, random: new Prng(7), ...opts });
    const got: string[] = [];
    const send = (from: string, to: string, m: string) => net.send(from, to, () => got.push(`${to}:${m}`));
    return { clock, net, got, send };
  };

  it('delivers after a delay and reorders messages', () => {
    const { clock, got, send } = setup();
    for (let i = 0; i < 20; i++) send('a', 'b', String(i));
    expect(got).toEqual([]);
    clock.runUntilIdle();
    expect(got.length).toBe(20);
    expect(got).not.toEqual(Array.from({ length: 20 }, (_, i) => `b:${i}`));
    expect(clock.now()).toBeLessThanOrEqual(8);
  });

  it('cuts links one way or both ways, takes nodes down, and heals', () => {
    const { clock, net, got, send } = setup();
    net.cut('a', 'b');
    send('a', 'b', 'x');
    send('b', 'a', 'y');
    net.partition('a', 'c');
    send('c', 'a', 'z');
    net.setDown('d', true);
    send('a', 'd', 'w');
    clock.runUntilIdle();
    expect(got).toEqual(['a:y']);
    net.heal();
    expect(net.isDown('d')).toBe(true);
    send('a', 'b', 'x2');
    clock.runUntilIdle();
    expect(got).toEqual(['a:y', 'b:x2']);
    expect(net.blocked('a', 'd')).toBe(true);
  });

  it('drops a message whose link is cut while it is in flight', () => {
    const { clock, net, got, send } = setup();
    send('a', 'b', 'x');
    net.partition('a', 'b');
    clock.runUntilIdle();
    expect(got).toEqual([]);
  });

  it('loses and duplicates messages at the configured rates', () => {
    const { clock, net, got, send } = setup({ loss: 0.3, duplicate: 0.3 });
    for (let i = 0; i < 1000; i++) send('a', 'b', String(i));
    clock.runUntilIdle();
    expect(net.stats.lost).toBeGreaterThan(200);
    expect(net.stats.duplicated).toBeGreaterThan(100);
    expect(got.length).toBe(net.stats.delivered);
    expect(new Set(got).size).toBeLessThan(got.length);
  });
});

describe('seed replay and the nightly runner', () => {
  it('reads the seed from --seed, --seed=, a bare number or SEED', () => {
    expect(parseSeed(['--seed', '12'], {})).toBe(12);
    expect(parseSeed(['--seed=13'], {})).toBe(13);
    expect(parseSeed(['14'], {})).toBe(14);
    expect(parseSeed([], { SEED: '15' })).toBe(15);
    expect(() => parseSeed([], {})).toThrow(/no seed/);
    expect(() => parseSeed(['--seed', 'x'], {})).toThrow(/no seed/);
  });

  it('runs seeds, names the failing ones with the command that replays them, and keeps to its budget', async () => {
    const sim: Simulation = {
      workspace: '@stead/example',
      run: (seed) => (seed % 3 === 0 ? { failure: 'boom', summary: {} } : { summary: { seed } }),
    };
    const lines: string[] = [];
    const report = await runNightly(sim, { start: 1, seeds: 10, print: (l) => lines.push(l) });
    expect(report.ran).toBe(10);
    expect(report.failed.map((f) => f.seed)).toEqual([3, 6, 9]);
    expect(lines.join('\n')).toContain('replay: npm run sim:seed -w @stead/example -- 6');
    const none = await runNightly(sim, { start: 1, seeds: 10, budgetMs: -1, print: () => {} });
    expect(none.ran).toBe(0);
    expect(none.budgetExhausted).toBe(true);
  });
});
