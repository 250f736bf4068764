/**
 * Collects items and hands them over together, so a burst of chat traffic costs one IPC message
 * (or one Redis call) instead of one per item. A batch goes at the end of the event-loop turn in
 * which its first item arrived; with `intervalMs`, batches go at most once per that interval:
 * an item after a quiet spell still goes at the end of its turn, while under load each batch
 * carries what gathered since the last one (fewer wake-ups for the reader, for at most
 * `intervalMs` of delay).
 */
export class TurnBatcher<T> {
  private items: T[] = [];
  private immediate: NodeJS.Immediate | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastFlushAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly flushItems: (items: T[]) => void,
    private readonly intervalMs = 0,
  ) {}

  get size(): number {
    return this.items.length;
  }

  push(item: T): void {
    this.items.push(item);
    if (this.immediate || this.timer) return;
    const wait = this.lastFlushAt + this.intervalMs - performance.now();
    if (wait > 0) this.timer = setTimeout(this.flush, wait);
    else this.immediate = setImmediate(this.flush);
  }

  /** Hands over what has gathered now. */
  readonly flush = (): void => {
    if (this.immediate) clearImmediate(this.immediate);
    clearTimeout(this.timer);
    this.immediate = undefined;
    this.timer = undefined;
    if (this.items.length === 0) return;
    const items = this.items;
    this.items = [];
    this.lastFlushAt = performance.now();
    this.flushItems(items);
  };
}
