import type { HandlerSchema } from '@stead/core';

function mimeOf(value: string): string {
  return value.split(';')[0].trim();
}

/** Does `contentType` satisfy `pattern` (an Accept-style list: `application/json`, `text/*`, `*∕*`)? Case-sensitive like Restate. */
export function contentTypeMatches(contentType: string, pattern: string): boolean {
  const mime = mimeOf(contentType);
  const slash = mime.indexOf('/');
  if (slash <= 0) return false;
  const type = mime.slice(0, slash);
  for (const raw of pattern.split(',')) {
    const p = mimeOf(raw);
    if (p === '*/*' || p === '*') return true;
    if (p.endsWith('/*') && p.slice(0, -2) === type) return true;
    if (p === mime) return true;
  }
  return false;
}

/**
 * Restate's ingress check of a request body against the handler's declared input. Returns the reason
 * (without the `input validation error: ` prefix) or undefined when the request is acceptable.
 */
export function inputProblem(
  handler: HandlerSchema,
  contentType: string | undefined,
  bodyLength: number,
): string | undefined {
  const ct = contentType === undefined || contentType.trim() === '' ? undefined : contentType;
  const input = handler.input;
  if (input !== undefined && input.contentType === undefined) {
    if (bodyLength === 0 && ct === undefined) return undefined;
    const shown = ct === undefined ? 'None' : `Some(${JSON.stringify(ct)})`;
    return `Expected body and content-type to be empty, but wasn't with content-type '${shown}'`;
  }
  const pattern = input?.contentType ?? '*/*';
  const required = input?.required === true;
  if (ct === undefined) {
    if (bodyLength === 0 && !required) return undefined;
    return 'Empty content-type';
  }
  if (!contentTypeMatches(ct, pattern)) return `Content-type '${ct}' does not match '${pattern}'`;
  return undefined;
}
