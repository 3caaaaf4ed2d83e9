import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import type { ClientRequest, RequestOptions } from 'node:http';
import { join } from 'node:path';

/** A certificate and its key, as files and bytes. */
export interface IssuedCert {
  certFile: string;
  keyFile: string;
  cert: Buffer;
  key: Buffer;
}

/** A throwaway certificate authority made with the `openssl` CLI in `dir` (P-256 keys, valid two days). */
export interface TestCa {
  /** The CA certificate (PEM): what a client trusts. */
  cert: Buffer;
  certFile: string;
  /** A server certificate for `hosts` (DNS names and IP addresses), written as `<name>.crt` / `<name>.key`. */
  issue(name: string, hosts?: string[]): IssuedCert;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

export function makeTestCa(dir: string, cn = 'Stead test CA'): TestCa {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(
    [
      'req',
      '-x509',
      ...ec,
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '2',
      '-subj',
      `/CN=${cn}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  const certFile = join(dir, 'ca.crt');
  return {
    cert: readFileSync(certFile),
    certFile,
    issue: (name, hosts = ['localhost', '127.0.0.1']) => {
      const san = hosts.map((h) => (/^[\d.]+$|:/.test(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
      writeFileSync(
        join(dir, `${name}.ext`),
        `subjectAltName=${san}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`,
      );
      openssl(['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${hosts[0]}`], dir);
      openssl(
        [
          'x509',
          '-req',
          '-in',
          `${name}.csr`,
          '-CA',
          'ca.crt',
          '-CAkey',
          'ca.key',
          '-set_serial',
          `0x${randomBytes(8).toString('hex')}`,
          '-days',
          '2',
          '-extfile',
          `${name}.ext`,
          '-out',
          `${name}.crt`,
        ],
        dir,
      );
      const cf = join(dir, `${name}.crt`);
      const kf = join(dir, `${name}.key`);
      return { certFile: cf, keyFile: kf, cert: readFileSync(cf), key: readFileSync(kf) };
    },
  };
}

/** What a server answered to a request sent with `Expect: 100-continue`. */
export interface ContinueAnswer {
  status: number;
  /** The server said 100 Continue before answering (so the body was sent). */
  continued: boolean;
}

/**
 * Sends a request with `Expect: 100-continue` (through `send`: http.request or https.request) and its body only
 * once the server says 100 Continue: whether it did, and its status. A server that refuses the request early
 * (401, 403, 413) answers without the body ever being sent.
 */
export function requestWithContinue<O extends RequestOptions>(
  send: (options: O) => ClientRequest,
  options: O,
  body: string,
): Promise<ContinueAnswer> {
  return new Promise((resolve, reject) => {
    let continued = false;
    const req = send({
      agent: false,
      ...options,
      headers: { ...options.headers, expect: '100-continue', 'content-length': String(Buffer.byteLength(body)) },
    });
    req.on('continue', () => {
      continued = true;
      req.end(body);
    });
    req.on('response', (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, continued });
      req.destroy();
    });
    req.on('error', reject);
    req.flushHeaders();
  });
}
