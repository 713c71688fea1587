import { constants, PerformanceObserver } from 'node:perf_hooks';
import { FULL_GC_LINE } from './gc-counter-line.js';

/**
 * Loaded into the gateway process by the benchmark (`node --import …/gc-counter.js`), never by the
 * gateway itself: prints one line on stderr per full (mark-compact) garbage collection, which the
 * benchmark counts per row. stderr, because the gateway's JSON logs go to stdout; a line per
 * collection, because the count has to be read from outside while the gateway runs.
 */
const observer = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const kind = (entry as unknown as { detail?: { kind?: number } }).detail?.kind;
    if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) process.stderr.write(`${FULL_GC_LINE}\n`);
  }
});
observer.observe({ entryTypes: ['gc'] });
