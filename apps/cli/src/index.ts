// No other package imports from the command line app: it is run through src/main.ts (the `stead` bin).
export {};
