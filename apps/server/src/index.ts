// No other package imports from the server app: it is run through src/main.ts.
export {};
