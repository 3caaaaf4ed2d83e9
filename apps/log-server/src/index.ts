// The log-server app is run through src/main.ts; the one-process server starts it in its own process when it
// grows into a cluster.
export { type RunningLogServer, startLogServer } from './app.ts';
export { type LogServerSettings, logServerSettings } from './settings.ts';
