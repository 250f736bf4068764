/**
 * Collects items during one event-loop turn and hands them over together at its end, so a burst
 * of chat traffic costs one IPC message (or one Redis round trip) instead of one per item.
 */
export class TurnBatcher<T> {
  private items: T[] = [];
  private scheduled = false;

  constructor(private readonly flushItems: (items: T[]) => void) {}

  push(item: T): void {
    this.items.push(item);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  readonly flush = (): void => {
    this.scheduled = false;
    if (this.items.length === 0) return;
    const items = this.items;
    this.items = [];
    this.flushItems(items);
  };
}
