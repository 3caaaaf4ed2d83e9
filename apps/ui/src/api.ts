/**
 * The admin API as the UI calls it (same origin: the admin server serves the UI). SQL goes to `POST /query` with
 * `accept: application/json`, which answers `{"rows": [...]}`.
 */
import type { Row } from './format.ts';

/** A failed request: the HTTP status and the server's message (the `message` of its JSON error body). */
export class ApiError extends Error {
  override name = 'ApiError';
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** Where the admin token the user typed is kept (this browser only; the UI files themselves need none). */
export const TOKEN_KEY = 'stead.adminToken';

/** The stored admin token, or undefined (none, or storage unavailable). */
export function adminToken(): string | undefined {
  try {
    return globalThis.localStorage?.getItem(TOKEN_KEY) || undefined;
  } catch {
    return undefined;
  }
}

/** Stores the token (or forgets it with an empty one). */
export function setAdminToken(token: string): void {
  const t = token.trim();
  if (t === '') globalThis.localStorage?.removeItem(TOKEN_KEY);
  else globalThis.localStorage?.setItem(TOKEN_KEY, t);
}

/** `init` with `Authorization: Bearer` when a token is stored (an admin API with authentication on). */
export function withToken(init: RequestInit): RequestInit {
  const token = adminToken();
  if (token === undefined) return init;
  return { ...init, headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${token}` } };
}

async function call(path: string, init: RequestInit = {}): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(path, withToken(init));
  } catch (err) {
    throw new ApiError(0, `cannot reach the admin API (${(err as Error).message})`);
  }
  if (res.ok) return res;
  const text = await res.text();
  let message = text || `${res.status} ${res.statusText}`;
  try {
    const body = JSON.parse(text) as { message?: unknown };
    if (typeof body.message === 'string') message = body.message;
  } catch {
    // not JSON: the text is the message
  }
  throw new ApiError(res.status, message);
}

export async function getJson<T>(path: string): Promise<T> {
  return (await (await call(path, { headers: { accept: 'application/json' } })).json()) as T;
}

/** Runs one SQL query over the introspection tables. */
export async function query(sql: string, signal?: AbortSignal): Promise<Row[]> {
  const res = await call('/query', {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ query: sql }),
    signal,
  });
  const body = (await res.json()) as { rows?: Row[] };
  return body.rows ?? [];
}

/** The invocation lifecycle operations of the admin API. */
export const ACTIONS = ['cancel', 'kill', 'pause', 'resume', 'restart-as-new', 'purge'] as const;
export type Action = (typeof ACTIONS)[number];

/**
 * Runs an action; restart-as-new answers with the new invocation's id. `params` go in the query (restart-as-new's
 * `from` and `deployment`).
 */
export async function invocationAction(
  id: string,
  action: Action,
  params: Record<string, string> = {},
): Promise<{ newInvocationId?: string }> {
  const q = new URLSearchParams(params).toString();
  const res = await call(`/invocations/${encodeURIComponent(id)}/${action}${q ? `?${q}` : ''}`, { method: 'PATCH' });
  const text = await res.text();
  if (text === '') return {};
  const body = JSON.parse(text) as { new_invocation_id?: string };
  return { newInvocationId: body.new_invocation_id };
}

export interface ServiceInfo {
  name: string;
  ty: string;
  revision: number;
  deployment_id: string;
  public: boolean;
  handlers: { name: string; ty?: string | null }[];
}

export interface DeploymentInfo {
  id: string;
  uri?: string;
  created_at?: string;
  services: { name: string; revision: number }[];
}

export const services = async () => (await getJson<{ services: ServiceInfo[] }>('/services')).services;
export const deployments = async () => (await getJson<{ deployments: DeploymentInfo[] }>('/deployments')).deployments;

/** A cron schedule as `GET /schedules` lists it. */
export interface Schedule {
  id: string;
  cron: string;
  timeZone: string;
  target: { service: string; handler: string; key?: string };
  overlap: string;
  paused: boolean;
  nextFireTimes: string[];
  lastInvocationId?: string;
  fired: number;
  skipped: number;
  late: number;
}

export const schedules = async () => (await getJson<{ schedules: Schedule[] }>('/schedules')).schedules;

export async function scheduleAction(id: string, action: 'pause' | 'resume' | 'delete'): Promise<void> {
  const path = `/schedules/${encodeURIComponent(id)}`;
  await call(action === 'delete' ? path : `${path}/${action}`, { method: action === 'delete' ? 'DELETE' : 'PATCH' });
}
