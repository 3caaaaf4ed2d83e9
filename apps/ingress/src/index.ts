// No other package imports from the ingress app: it is run through src/main.ts.
export {};
