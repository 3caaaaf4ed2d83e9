// Prometheus figures of a process's sequencers (a sequencer process, or a worker sequencing the logs it leads).
import { Gauge, type Registry } from 'prom-client';
import type { SequencerHost } from '../replicated/sequencer-host.ts';

type LogletCore = ReturnType<SequencerHost['loglets']>[number][1];

/** Per-loglet figures of the sequencer cores, read at scrape time. */
export function registerSequencerMetrics(registry: Registry, host: SequencerHost): void {
  const perLoglet = (name: string, help: string, pick: (core: LogletCore) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      labelNames: ['loglet'],
      collect() {
        this.reset();
        for (const [loglet, core] of host.loglets()) this.set({ loglet }, pick(core));
      },
    });
  perLoglet('stead_sequencer_appends', 'Append requests accepted per loglet', (c) => c.stats.appends);
  perLoglet('stead_sequencer_records', 'Records sequenced per loglet', (c) => c.stats.records);
  perLoglet('stead_sequencer_waves', 'Batches (waves) sent to log servers per loglet', (c) => c.stats.waves);
  perLoglet('stead_sequencer_spills', 'Stores re-sent to another log server after a failure', (c) => c.stats.spills);
  perLoglet(
    'stead_sequencer_duplicate_calls',
    'Numbered appends answered from memory (a retry of a call already sequenced)',
    (c) => c.stats.duplicateCalls,
  );
  perLoglet(
    'stead_sequencer_out_of_order_calls',
    'Numbered appends refused because their predecessor had not arrived',
    (c) => c.stats.outOfOrderCalls,
  );
  perLoglet('stead_sequencer_released_tail', 'Released (acknowledged) tail per loglet', (c) => Number(c.tail));
  perLoglet(
    'stead_sequencer_read_streams',
    'Readers following the loglet over ReadStream',
    (c) => c.windowStats().subscribers,
  );
}
