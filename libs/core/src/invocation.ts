/** What the ingress asks the engine for, and what it gets back. */
export interface InvocationTarget {
  service: string;
  handler: string;
  /** Object or workflow key; undefined for plain services. */
  key?: string;
}

export interface IngressRequest {
  target: InvocationTarget;
  body: Uint8Array;
  /** Request headers passed on to the handler (lower-case names), minus hop-by-hop ones. */
  headers: [string, string][];
  idempotencyKey?: string;
  /** One-way sends only: run no earlier than now + delayMs. */
  delayMs?: number;
}

export type InvocationOutcome =
  | { ok: true; value: Uint8Array; contentType?: string }
  | { ok: false; code: number; message: string; metadata?: Record<string, string> };

export interface SendReceipt {
  invocationId: string;
  /** Restate answers `Accepted`, or `PreviouslyAccepted` for an idempotent send seen before. */
  status: 'Accepted' | 'PreviouslyAccepted';
  /** When the invocation will run (delayed sends), as ISO-8601. */
  executionTime?: string;
}

/** The engine as the ingress sees it. Implemented by the worker/partition side. */
export interface IngressBackend {
  /** Appends an Invoke to the target's partition log and resolves with the invocation's result. */
  call(req: IngressRequest, signal?: AbortSignal): Promise<{ invocationId: string; outcome: InvocationOutcome }>;
  /** Appends an Invoke without waiting for its result. Resolves once the Invoke is durable in the log. */
  send(req: IngressRequest): Promise<SendReceipt>;
}
