// No other package imports from the sequencer app: it is run through src/main.ts.
export {};
