/**
 * Addresses a deployment must not live at unless the operator allows it: link-local ranges and the cloud
 * instance-metadata endpoints (which hand out credentials). Registering `http://169.254.169.254/` would make
 * the server fetch from them on a user's behalf (SSRF). Checked on the uri at registration and again on every
 * address its host name resolves to (the discovery client's DNS lookup).
 */
import { BlockList, isIP } from 'node:net';

const FORBIDDEN = new BlockList();
FORBIDDEN.addSubnet('169.254.0.0', 16, 'ipv4'); // link-local, incl. 169.254.169.254 (AWS, GCP, Azure, OpenStack)
FORBIDDEN.addAddress('100.100.100.200', 'ipv4'); // Alibaba Cloud metadata
FORBIDDEN.addSubnet('fe80::', 10, 'ipv6'); // link-local
FORBIDDEN.addAddress('fd00:ec2::254', 'ipv6'); // AWS metadata over IPv6
FORBIDDEN.addSubnet('64:ff9b::a9fe:0', 112, 'ipv6'); // NAT64 of 169.254.0.0/16

/** Host names of metadata services (they resolve to the addresses above inside the cloud). */
const FORBIDDEN_NAMES: ReadonlySet<string> = new Set([
  'metadata.google.internal',
  'metadata.goog',
  'instance-data.ec2.internal',
]);

/** Why `address` (an IP, IPv6 possibly in brackets) is not allowed for a deployment; undefined when it is. */
export function forbiddenAddressReason(address: string): string | undefined {
  const ip = address.replace(/^\[(.*)\]$/, '$1');
  const family = isIP(ip);
  if (family === 0) return undefined;
  if (!FORBIDDEN.check(ip, family === 4 ? 'ipv4' : 'ipv6')) return undefined;
  return `${ip} is a link-local or cloud metadata address`;
}

/** Why a host (name or IP literal, as in a URL) is not allowed for a deployment; undefined when it is. */
export function forbiddenHostReason(host: string): string | undefined {
  const name = host.toLowerCase().replace(/\.$/, '');
  if (FORBIDDEN_NAMES.has(name)) return `${name} is a cloud metadata host name`;
  return forbiddenAddressReason(name);
}

/** A deployment address refused by the policy (answered with 400). */
export class ForbiddenAddressError extends Error {
  override name = 'ForbiddenAddressError';
  readonly status = 400;
  readonly code = 'EFORBIDDENADDRESS';
  constructor(what: string, reason: string) {
    super(
      `${what}: ${reason}, refused for deployments (start the server with --allow-link-local-deployments to allow it)`,
    );
  }
}
