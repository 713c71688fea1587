/**
 * The line gc-counter.ts prints on the gateway's stderr per full collection, and processes.ts counts:
 * a module of its own so that importing it loads nothing into either process.
 */
export const FULL_GC_LINE = 'bench-gc: mark-compact';
