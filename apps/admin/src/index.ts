// No other package imports from the admin app: it is run through src/main.ts.
export {};
