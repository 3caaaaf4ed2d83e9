import type { InvocationBackend, StateReplacement } from '@stead/core';
import { statusError } from './invocations.ts';
import { SchemaError, type SchemaRegistry } from './registry.ts';
import { type AdminRouter, errorReply } from './router.ts';

function unprocessable(why: string): SchemaError {
  return new SchemaError(422, `Failed to deserialize the JSON body into the target type: ${why}`);
}

/** A value of `new_state`: its bytes as an array of numbers 0..255 (how Restate's API carries them in JSON). */
function bytesOf(name: string, value: unknown): Uint8Array {
  if (!Array.isArray(value) || !value.every((b) => Number.isInteger(b) && b >= 0 && b <= 255))
    throw unprocessable(`new_state.${name}: expected an array of bytes (integers 0 to 255)`);
  return Uint8Array.from(value as number[]);
}

const optionalString = (b: Record<string, unknown>, name: string): string | undefined => {
  const v = b[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw unprocessable(`${name}: expected a string`);
  return v;
};

/** The body of `POST /services/{name}/state`: `{object_key, new_state: {key: [bytes]}, version?, scope?}`. */
function parseStateRequest(body: unknown): { key: string; state: [Uint8Array, Uint8Array][]; version?: string } {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw unprocessable('expected a JSON object');
  const b = body as Record<string, unknown>;
  if (typeof b.object_key !== 'string') throw unprocessable('object_key: expected a string');
  const newState = b.new_state;
  if (newState === null || typeof newState !== 'object' || Array.isArray(newState))
    throw unprocessable('new_state: expected a map of state keys to byte arrays');
  if (optionalString(b, 'scope') !== undefined)
    throw new SchemaError(400, 'scoped virtual object instances are not supported by this server; omit scope');
  const encoder = new TextEncoder();
  const state = Object.entries(newState as Record<string, unknown>).map(([name, value]): [Uint8Array, Uint8Array] => [
    encoder.encode(name),
    bytesOf(name, value),
  ]);
  const version = optionalString(b, 'version');
  return version === undefined ? { key: b.object_key, state } : { key: b.object_key, state, version };
}

/**
 * `POST /services/{name}/state`: replaces the whole state of one key of a virtual object or workflow (the CLI's
 * `state edit` and `state clear`). Answers 202 once the partition applied it, or queued it behind the invocation
 * that holds the key's lock (applied when that one ends, as Restate does); 409 when `version` is not the current
 * state's version.
 */
export function mountStateRoutes(router: AdminRouter, registry: SchemaRegistry, backend: InvocationBackend): void {
  router.post('/services/:service/state', async (req) => {
    const name = req.params.service;
    const svc = registry.service(name);
    if (svc === undefined) return errorReply(404, `The requested service '${name}' does not exist`);
    if (svc.ty !== 'VIRTUAL_OBJECT' && svc.ty !== 'WORKFLOW')
      return errorReply(400, `service '${name}' is a plain service; only virtual objects and workflows have state`);
    const parsed = parseStateRequest(await req.json());
    const replacement: StateReplacement = { service: name, serviceType: svc.ty, ...parsed };
    try {
      const outcome = await backend.replaceState(replacement);
      if (!outcome.ok) return errorReply(outcome.code, outcome.message);
      return { status: 202 };
    } catch (err) {
      return statusError(err);
    }
  });
}
