import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { type Bifrost, chainKey, decodeChain, updateNodes } from '@stead/log';
import { TOPOLOGY } from '@stead/testing';
import { LogCluster } from '@stead/testing/log-cluster';

// Issue 5: a replicated log of real processes (metadata store, 3 then 4 log servers, 2 sequencers) on loopback.
// Appenders run at full speed while a log server is killed with SIGKILL and restarted, and while the sequencer of
// the open segment is killed and the log is reconfigured onto the other one; then a fourth log server joins, the
// log moves onto a nodeset without the first one, and that one is stopped after trimming. Reading the whole log
// back must show every acknowledged record at its offset, in acknowledgment order.

// The log cluster is the same whatever the topology (it runs no Stead server): this suite runs in the
// single-topology run of the e2e suites, and the cluster run (STEAD_E2E_TOPOLOGY=cluster) skips it rather than run
// it twice.
const IN_THIS_RUN = TOPOLOGY === 'single';
const describeHere = IN_THIS_RUN ? describe : describe.skip;

const LOG = 'e2e-log';
let cluster: LogCluster;
let bifrost: Bifrost;

interface Ack {
  payload: string;
  offset: bigint;
  issuedAt: number;
  ackedAt: number;
}

const acks: Ack[] = [];
let failures = 0;
let lastFailure = '';
const reconfigurations: string[] = [];
let stopAppending = false;
const appenders: Promise<void>[] = [];

function startAppenders(n: number): void {
  stopAppending = false;
  for (let w = 0; w < n; w++)
    appenders.push(
      (async () => {
        for (let i = 0; !stopAppending; i++) {
          const payload = `w${w}-${i}-${acks.length}`;
          const issuedAt = performance.now();
          try {
            const offset = await bifrost.append(LOG, [new TextEncoder().encode(payload)]);
            acks.push({ payload, offset, issuedAt, ackedAt: performance.now() });
          } catch (e) {
            failures++;
            lastFailure = String(e);
          }
        }
      })(),
    );
}

async function stopAppenders(): Promise<void> {
  stopAppending = true;
  await Promise.all(appenders.splice(0));
}

/** Waits until `n` more appends are acknowledged than when called. */
async function progress(n: number, timeoutMs = 20_000): Promise<void> {
  const target = acks.length + n;
  const deadline = Date.now() + timeoutMs;
  while (acks.length < target) {
    if (Date.now() > deadline)
      throw new Error(
        `only ${acks.length - target + n} of ${n} appends in ${timeoutMs} ms (${failures} failed, last: ${lastFailure})\n${cluster.outputs()}`,
      );
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function readAll(from = 0n): Promise<Map<bigint, string>> {
  const tail = await bifrost.tail(LOG);
  const out = new Map<bigint, string>();
  let at = from;
  while (at < tail) {
    const recs = await bifrost.read(LOG, at, 1000, tail);
    if (recs.length === 0) throw new Error(`nothing readable at ${at} below the tail ${tail}`);
    for (const r of recs) out.set(r.offset, new TextDecoder().decode(r.payload));
    at = recs.at(-1)!.offset + 1n;
  }
  return out;
}

function checkAcks(log: Map<bigint, string>, from = 0n): void {
  const wrong = acks.filter((a) => a.offset >= from && log.get(a.offset) !== a.payload);
  expect(wrong.slice(0, 5)).toEqual([]);
  // Order: an append issued after another was acknowledged has a higher offset.
  const byAck = [...acks].sort((a, b) => a.ackedAt - b.ackedAt);
  let inversions = 0;
  for (const a of acks)
    for (const b of byAck) {
      if (b.ackedAt >= a.issuedAt) break;
      if (b.offset >= a.offset) inversions++;
    }
  expect(inversions).toBe(0);
}

beforeAll(async () => {
  if (!IN_THIS_RUN) return;
  cluster = await LogCluster.start({ logServers: 3, sequencers: 2 });
  ({ bifrost } = cluster.bifrost(
    { scope: 'node', count: 2 },
    {
      appendTimeoutMs: 10_000,
      onReconfigured: (c, tail, why) =>
        reconfigurations.push(
          `segment ${c.segments.at(-1)!.index} on ${c.segments.at(-1)!.sequencer.id} (sealed tail ${tail}): ${why}`,
        ),
    },
  ));
  await bifrost.create(LOG);
}, 60_000);

afterAll(async () => {
  stopAppending = true;
  await Promise.all(appenders.splice(0));
  await cluster?.stop();
}, 60_000);

describeHere('replicated log with real processes', () => {
  test('kill -9 of a log server under load loses nothing', async () => {
    startAppenders(16);
    await progress(300);
    await cluster.kill('ls2');
    await progress(300); // a write quorum of 2 out of 3 still exists
    await cluster.startLogServer('ls2');
    await progress(300);
    await stopAppenders();
    checkAcks(await readAll());
  }, 60_000);

  test('kill -9 of the sequencer: the log is reconfigured and appends resume within 2 s', async () => {
    startAppenders(16);
    await progress(200);
    const before = decodeChain((await cluster.metadata.get(chainKey(LOG)))!.value);
    const open = before.segments.at(-1)!;
    const killedAt = performance.now();
    await cluster.kill(open.sequencer.id);
    // The first append issued after the kill that gets acknowledged.
    const deadline = Date.now() + 10_000;
    let resumed: number | undefined;
    while (resumed === undefined && Date.now() < deadline) {
      resumed = acks.find((a) => a.issuedAt > killedAt)?.ackedAt;
      if (resumed === undefined) await new Promise((r) => setTimeout(r, 10));
    }
    expect(resumed).toBeDefined();
    const gapMs = resumed! - killedAt;
    process.stdout.write(`appends resumed ${gapMs.toFixed(0)} ms after the sequencer was killed\n`);
    expect(gapMs).toBeLessThan(2_000);
    await progress(300);
    await stopAppenders();
    const after = decodeChain((await cluster.metadata.get(chainKey(LOG)))!.value);
    expect(after.segments.length).toBeGreaterThan(before.segments.length);
    expect(after.segments.at(-1)!.sequencer.id).not.toBe(open.sequencer.id);
    checkAcks(await readAll());
    await cluster.startSequencer(open.sequencer.id);
  }, 60_000);

  test('a fourth log server joins, the log moves off ls1, ls1 is stopped after trimming', async () => {
    await cluster.addLogServer('ls4');
    // Retire ls1: out of the nodes config first, so that no new segment (also one placed by a failover) uses it.
    await updateNodes(cluster.metadata, (c) => {
      const { ls1: _gone, ...rest } = c.logServers;
      return { ...c, logServers: rest };
    });
    const directory = cluster.bifrost({ scope: 'node', count: 2 }).directory;
    const p = await directory.place(undefined);
    const chain = await bifrost.reconfigure(LOG, 'move off ls1', {
      ...p,
      nodeset: [{ id: 'ls2' }, { id: 'ls3' }, { id: 'ls4' }],
    });
    const newBase = chain.segments.at(-1)!.base;
    startAppenders(8);
    await progress(300);
    const trimmed = await bifrost.trim(LOG, newBase);
    expect(trimmed!.trimPoint).toBe(newBase);
    expect({
      withLs1: trimmed!.segments.filter((s) => s.nodeset.some((m) => m.id === 'ls1')).map((s) => s.index),
      reconfigurations,
    }).toEqual({ withLs1: [], reconfigurations });
    await cluster.kill('ls1', 'SIGTERM');
    await progress(300);
    await stopAppenders();
    const log = await readAll(newBase);
    checkAcks(log, newBase);
    expect(acks.filter((a) => a.offset >= newBase).length).toBeGreaterThanOrEqual(600);
    await expect(bifrost.read(LOG, 0n, 10)).rejects.toThrow(/trimmed/);
  }, 60_000);
});
