export * from './discovery.ts';
export * from './framing.ts';
export * from './http.ts';
export * from './transport.ts';
