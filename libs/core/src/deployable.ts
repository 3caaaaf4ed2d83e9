import { ConfigError, helpText, loadSettings, type Settings, type SettingsSpec } from './config.ts';

export interface RunningDeployable {
  shutdown(reason: string): Promise<void>;
}

/**
 * The `main` of a deployable: settings from flags and `STEAD_*` variables (exit 2 with the problems), `--help`,
 * start (exit 1 with the reason, also as a JSON log line, when `isStartupError` says it is a refusal to start),
 * and a graceful stop on SIGTERM/SIGINT (exit 0, or 1 when the shutdown fails).
 */
export function runDeployable<S extends SettingsSpec>(opts: {
  name: string;
  title: string;
  spec: S;
  start: (settings: Settings<S>) => Promise<RunningDeployable>;
  isStartupError: (e: unknown) => boolean;
}): void {
  const { name } = opts;
  const main = async () => {
    let loaded: { settings: Settings<S>; help: boolean };
    try {
      loaded = loadSettings(opts.spec, process.argv.slice(2), process.env);
    } catch (e) {
      if (e instanceof ConfigError) {
        process.stderr.write(`${name}: ${e.message}\n`);
        process.exit(2);
      }
      throw e;
    }
    if (loaded.help) {
      process.stdout.write(`${helpText(`stead ${name}: ${opts.title}`, opts.spec)}\n`);
      return;
    }
    let app: RunningDeployable;
    try {
      app = await opts.start(loaded.settings);
    } catch (e) {
      if (opts.isStartupError(e)) {
        const message = (e as Error).message;
        process.stderr.write(`${name}: refusing to start: ${message}\n`);
        process.stdout.write(
          `${JSON.stringify({ time: new Date().toISOString(), level: 'error', component: name, msg: 'refusing to start', error: message })}\n`,
        );
        process.exit(1);
      }
      throw e;
    }
    const stop = (signal: string) => {
      app.shutdown(signal).then(
        () => process.exit(0),
        (e) => {
          process.stderr.write(`${name}: shutdown failed: ${(e as Error).message}\n`);
          process.exit(1);
        },
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  };
  main().catch((e) => {
    process.stderr.write(`${name}: fatal: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  });
}
