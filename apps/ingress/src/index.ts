// The ingress app is run through src/main.ts; the one-process server starts it in its own process when it grows
// into a cluster.
export { startIngress } from './app.ts';
export { type IngressSettings, ingressSettings } from './settings.ts';
