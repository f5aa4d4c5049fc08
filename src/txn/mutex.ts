/** A FIFO async mutex. */
export class Mutex {
  private tail: Promise<void> = Promise.resolve();
  private pending = 0;
  /** True while anyone holds or waits for the mutex. */
  get locked(): boolean { return this.pending > 0; }
  async run<T>(fn: () => Promise<T> | T): Promise<T> {
    const prev = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => { release = r; });
    this.pending++;
    await prev;
    try { return await fn(); } finally { this.pending--; release(); }
  }
}
