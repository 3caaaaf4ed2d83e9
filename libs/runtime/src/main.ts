import { createLogger } from '@stead/observability';
import { EXIT_BAD_SETTINGS, EXIT_STARTUP, errorMessage, StartupError } from './errors.ts';
import { grpcTlsFromSettings, setProcessGrpcTls } from './grpc-tls.ts';
import type { ShutdownOutcome } from './lifecycle.ts';
import { ConfigError, helpText, loadSettings, type Settings, type SettingsSpec } from './settings.ts';

export interface RunningNode {
  shutdown(reason: string): Promise<ShutdownOutcome>;
}

export interface RunNodeOptions<S extends SettingsSpec> {
  /** Prefix of the lines written to stderr (`log-server`, `stead-server`). */
  name: string;
  /** `component` of the JSON log line written on a refusal to start (default: `name`). */
  component?: string;
  /** First line of `--help`. */
  title: string;
  spec: S;
  /** Added after the problems of bad settings. */
  settingsHint?: string;
  /** Starts the node; throws {@link StartupError} to refuse to start. */
  start: (settings: Settings<S>) => Promise<RunningNode>;
  argv?: string[];
  env?: Record<string, string | undefined>;
}

/**
 * The `main` of a node process: settings from flags and `STEAD_*` variables (exit 2 with the problems),
 * `--help`, start (exit 1 with the reason on stderr and as a JSON log line when it throws a StartupError), and a
 * graceful stop on SIGTERM/SIGINT (exit 0; 1 when the shutdown fails or passes its deadline).
 */
export function runNode<S extends SettingsSpec>(opts: RunNodeOptions<S>): void {
  // Listeners go in before the start: a signal that arrives while starting stops the node once it runs (without
  // a listener the signal would kill the process at once).
  let node: RunningNode | undefined;
  let signal: string | undefined;
  const stop = () => {
    if (!node || !signal) return;
    node.shutdown(signal).then(
      (outcome) => process.exit(outcome === 'stopped' ? 0 : EXIT_STARTUP),
      (e) => {
        process.stderr.write(`${opts.name}: shutdown failed: ${errorMessage(e)}\n`);
        process.exit(EXIT_STARTUP);
      },
    );
  };
  const onSignal = (name: string) => {
    signal ??= name;
    stop();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  startNode(opts).then(
    (started) => {
      if (started) {
        node = started;
        stop();
      } else {
        process.removeListener('SIGTERM', onSignal).removeListener('SIGINT', onSignal);
      }
    },
    (e) => {
      process.stderr.write(`${opts.name}: fatal: ${(e as Error)?.stack ?? e}\n`);
      process.exit(EXIT_STARTUP);
    },
  );
}

/** Loads the settings and starts; undefined when there is nothing to run (`--help`). Exits on bad settings and refusals. */
async function startNode<S extends SettingsSpec>(opts: RunNodeOptions<S>): Promise<RunningNode | undefined> {
  let loaded: { settings: Settings<S>; help: boolean };
  try {
    loaded = loadSettings(opts.spec, opts.argv ?? process.argv.slice(2), opts.env ?? process.env);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`${opts.name}: ${e.message}\n${opts.settingsHint ?? ''}`);
    process.exit(EXIT_BAD_SETTINGS);
  }
  if (loaded.help) {
    process.stdout.write(`${helpText(opts.title, opts.spec)}\n`);
    return undefined;
  }
  try {
    startGrpcTls(loaded.settings, opts.component ?? opts.name);
    return await opts.start(loaded.settings);
  } catch (e) {
    if (!(e instanceof StartupError)) throw e;
    process.stderr.write(`${opts.name}: refusing to start: ${e.message}\n`);
    createLogger(opts.component ?? opts.name)('error', 'refusing to start', { error: e.message });
    process.exit(EXIT_STARTUP);
  }
}

/**
 * The process's gRPC TLS from its settings (when it has the `grpcTls*` settings), before anything listens or
 * connects: every gRPC listener and client of the process then uses it.
 */
function startGrpcTls(settings: Record<string, unknown>, component: string): void {
  if (!('grpcTlsMode' in settings)) return;
  const log = createLogger(component);
  const s = settings as Parameters<typeof grpcTlsFromSettings>[0];
  const tls = grpcTlsFromSettings(s, (level, msg, fields) => log(level, msg, fields));
  setProcessGrpcTls(tls);
  if (tls.mode !== 'off')
    log('info', 'gRPC mTLS', { mode: tls.mode, certFile: s.grpcTlsCertFile, caFile: s.grpcTlsCaFile });
}
