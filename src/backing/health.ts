/**
 * The health of one backing target of a spread layout: online, failing (it returned errors; it
 * is tried again with a doubling backoff), missing (it cannot be opened, or its file was removed
 * or replaced), empty (present without a label: it needs `rebuild`), rebuilding (online, its
 * fragments being re-created).
 */
import { LIMITS } from '../limits.js';
import type { Target } from './target.js';

export type TargetState = 'online' | 'failing' | 'missing' | 'empty' | 'rebuilding';

export class TargetSlot {
  state: TargetState = 'missing';
  target: Target | null = null;
  errors = 0;
  lastError = '';
  retryAt = 0;
  private backoff: number = LIMITS.RETRY_FIRST_MS;

  constructor(readonly index: number, readonly path: string) {}

  /** Takes I/O: online, or being rebuilt (new fragments go to it while old ones are re-created). */
  get usable(): boolean { return this.target !== null && (this.state === 'online' || this.state === 'rebuilding'); }

  up(target: Target, state: TargetState = 'online'): void {
    this.target = target;
    this.state = state;
    this.backoff = LIMITS.RETRY_FIRST_MS;
    this.retryAt = 0;
  }

  /** Marks the target down and schedules the next attempt; returns the target to close. */
  down(state: Exclude<TargetState, 'online' | 'rebuilding'>, why: string, now = Date.now()): Target | null {
    const t = this.target;
    this.target = null;
    this.state = state;
    this.errors++;
    this.lastError = why;
    this.retryAt = now + this.backoff;
    this.backoff = Math.min(this.backoff * 2, LIMITS.RETRY_MAX_MS);
    return t;
  }

  view(now = Date.now()): { index: number; path: string; state: TargetState; errors: number; lastError?: string; retryInMs?: number } {
    return {
      index: this.index, path: this.path, state: this.state, errors: this.errors,
      ...(this.lastError ? { lastError: this.lastError } : {}),
      ...(this.usable ? {} : { retryInMs: Math.max(0, this.retryAt - now) }),
    };
  }
}
