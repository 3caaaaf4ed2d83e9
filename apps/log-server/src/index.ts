// No other package imports from the log-server app: it is run through src/main.ts.
export {};
