import type { IncomingHttpHeaders } from 'node:http';
import { type AnyRequest, HttpRouter } from '@stead/core';
import { SchemaError } from './registry.ts';

export interface AdminRequest {
  method: string;
  /** Path without the query string and without an API version prefix (`/v2`). */
  path: string;
  params: Record<string, string>;
  query: URLSearchParams;
  /** The request's headers (over h2 also its pseudo-headers, `:path`, `:authority`, ...). */
  headers: IncomingHttpHeaders;
  /** The request as Node gives it: HTTP/1.1 or HTTP/2 (compat API). */
  raw: AnyRequest;
  /** The body as JSON. 415 unless the content type is JSON, 400 if unparseable, 413 if too large. */
  json(): Promise<unknown>;
  /** The raw body (413 if larger than the server's limit). */
  body(): Promise<Buffer>;
}

export interface AdminReply {
  status: number;
  /** Serialized as JSON with `content-type: application/json`. */
  json?: unknown;
  /** Sent as is (with `content-type` from headers, default text/plain). */
  text?: string;
  /** Bytes sent as is (with `content-type` from headers, default application/octet-stream). */
  body?: Uint8Array;
  headers?: Record<string, string>;
}

export type AdminHandler = (req: AdminRequest) => Promise<AdminReply> | AdminReply;

/**
 * The admin API's routes (`/deployments/:deployment`) on the shared router. Extend it with `add` to mount more
 * routes (the invocation lifecycle routes, `/query`, ...).
 */
export class AdminRouter extends HttpRouter<AdminHandler> {}

/** Thrown by handlers for a `{"message", "restate_code"}` answer. */
export { SchemaError as AdminError };

export function errorReply(status: number, message: string, restateCode?: string): AdminReply {
  return { status, json: { message, restate_code: restateCode ?? null } };
}
