/**
 * How long the event loop was held (node's event-loop delay histogram, sampled every
 * LOOP_DELAY_RESOLUTION_MS): requests wait behind whatever holds it, so its tail is theirs.
 */
import { IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import { LIMITS } from '../limits.js';

let h: IntervalHistogram | null = null;

/** Starts sampling (once per process). */
export function watchLoopDelay(): void {
  if (h) return;
  h = monitorEventLoopDelay({ resolution: LIMITS.LOOP_DELAY_RESOLUTION_MS });
  h.enable();
}

/** The delays seen since sampling started, in ms (null when it did not). */
export function loopDelay(): { p50: number; p99: number; max: number } | null {
  if (!h || !h.count) return null;
  const ms = (ns: number) => Math.round(ns / 1e4) / 100;
  return { p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max) };
}
