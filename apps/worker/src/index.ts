// No other package imports from the worker app: it is run through src/main.ts.
export {};
