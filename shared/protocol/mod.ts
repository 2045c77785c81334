// Public entry of the protocol: subjects, message schemas, admin API and codec.
export * from './subjects.js';
export * from './messages.js';
export * from './api.js';
export * from './codec.js';
export * from './token.js';
