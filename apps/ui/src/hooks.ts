import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

export interface Loaded<T> {
  data?: T;
  error?: Error;
  loading: boolean;
  /** Loads again (keeps showing the previous data meanwhile). */
  reload: () => void;
}

/**
 * The result of `load`, loaded again when `deps` change and every `refreshMs` while `refreshMs` is set. Answers of
 * an older load that arrive after a newer one started are dropped.
 */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[], refreshMs?: number): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: Error; loading: boolean }>({ loading: true });
  const generation = useRef(0);
  const inFlight = useRef(false);
  const run = useCallback((fresh = false) => {
    const mine = ++generation.current;
    inFlight.current = true;
    setState((s) => (fresh ? { loading: true } : { ...s, loading: true }));
    load().then(
      (data) => {
        if (mine !== generation.current) return;
        inFlight.current = false;
        setState({ data, loading: false });
      },
      (error: Error) => {
        if (mine !== generation.current) return;
        inFlight.current = false;
        setState((s) => ({ data: s.data, error, loading: false }));
      },
    );
  }, deps);
  // New deps: a different thing to show, so the old data goes at once.
  useEffect(() => run(true), [run]);
  useEffect(() => {
    if (refreshMs === undefined) return;
    // A refresh waits for the load in flight: a load slower than the period would otherwise never show.
    const timer = setInterval(() => inFlight.current || run(), refreshMs);
    return () => clearInterval(timer);
  }, [run, refreshMs]);
  return { ...state, reload: () => run() };
}

/** The current time, ticking every `everyMs` (for "3 s ago"). */
export function useNow(everyMs = 1000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(t);
  }, [everyMs]);
  return now;
}
