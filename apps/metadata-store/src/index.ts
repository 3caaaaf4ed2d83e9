// No other package imports from the metadata-store app: it is run through src/main.ts.
export {};
