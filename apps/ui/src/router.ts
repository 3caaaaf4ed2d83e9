/**
 * History routing under /ui: `/ui/invocations/inv_1…?status=running`. The admin server answers every such path
 * with index.html, so a route can be reloaded or shared.
 */
import { useEffect, useState } from 'preact/hooks';

export const BASE = '/ui';

export interface Route {
  /** The path below /ui, starting with `/` (`/` for the overview). */
  path: string;
  params: URLSearchParams;
}

function current(): Route {
  const rest = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) : location.pathname;
  return { path: rest === '' ? '/' : rest, params: new URLSearchParams(location.search) };
}

const CHANGE = 'stead:navigate';

/** Goes to `to` (a path below /ui with its query), adding a history entry unless `replace`. */
export function navigate(to: string, replace = false): void {
  const url = `${BASE}${to}`;
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  window.dispatchEvent(new Event(CHANGE));
  if (!replace) window.scrollTo(0, 0);
}

export function useRoute(): Route {
  const [route, setRoute] = useState(current);
  useEffect(() => {
    const update = () => setRoute(current());
    window.addEventListener('popstate', update);
    window.addEventListener(CHANGE, update);
    return () => {
      window.removeEventListener('popstate', update);
      window.removeEventListener(CHANGE, update);
    };
  }, []);
  return route;
}

/** The href of a route, for links that open in a new tab as well. */
export const href = (to: string) => `${BASE}${to}`;

/** A click on a link to `to`: routed in the page, unless the user asked for a new tab or window. */
export function follow(e: MouseEvent, to: string): void {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  navigate(to);
}

export const invocationPath = (id: string) => `/invocations/${encodeURIComponent(id)}`;
