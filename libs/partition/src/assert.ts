/** An invariant of durable data does not hold: the component must stop (its store or log is not what it wrote). */
export class InvariantError extends Error {
  constructor(message: string) {
    super(`invariant violated: ${message}`);
    this.name = 'InvariantError';
  }
}

/** Checks an invariant at a durable boundary; a broken one stops the component loudly. */
export function assert(cond: unknown, message: string): asserts cond {
  if (!cond) throw new InvariantError(message);
}
