/**
 * HTTPS of the HTTP surfaces (admin API, ingress) from a certificate and key file (PEM), reloaded when the
 * files change: new connections get the new certificate, open ones keep theirs.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { type FileWatch, watchFiles } from './file-watch.ts';

export interface TlsFiles {
  /** PEM certificate chain (the server's certificate first). */
  certFile: string;
  /** PEM private key of the certificate. */
  keyFile: string;
}

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
}

/** Reads the files and checks that they make a usable context (a key that matches the certificate). */
export function readTlsFiles(files: TlsFiles): TlsMaterial {
  let material: TlsMaterial;
  try {
    material = { cert: readFileSync(files.certFile), key: readFileSync(files.keyFile) };
  } catch (err) {
    throw new Error(`cannot read the TLS certificate or key: ${(err as Error).message}`);
  }
  try {
    createSecureContext(material);
  } catch (err) {
    throw new Error(
      `the TLS certificate ${files.certFile} and key ${files.keyFile} are not usable together: ${(err as Error).message}`,
    );
  }
  return material;
}

/** Told after each reload of certificate files: undefined when applied, else why not (the old one stays). */
export type TlsReloadReport = (err: Error | undefined) => void;

/** A TlsReloadReport writing to a logger (info when applied, error when not). */
export function logTlsReload(
  log: (level: 'info' | 'error', msg: string, fields?: Record<string, unknown>) => void,
  files: TlsFiles,
): TlsReloadReport {
  return (err) =>
    err === undefined
      ? log('info', 'TLS certificate reloaded', { cert: files.certFile })
      : log('error', 'TLS certificate not reloaded: the previous one stays in use', { error: err.message });
}

/**
 * Applies new certificate files to `server` when they change. A pair that does not load (a half-written
 * renewal, a key that does not match yet) is reported and the previous certificate stays; the next change
 * (the other file landing) is tried again.
 */
export function reloadTlsOnChange(
  server: { setSecureContext(options: TlsMaterial): void },
  files: TlsFiles,
  report: TlsReloadReport,
  opts: { pollIntervalMs?: number } = {},
): FileWatch {
  return watchFiles(
    [files.certFile, files.keyFile],
    () => {
      try {
        server.setSecureContext(readTlsFiles(files));
        report(undefined);
      } catch (err) {
        report(err as Error);
      }
    },
    opts,
  );
}
