/**
 * Group commit for the embedded database: the write actions of one process that arrive within a
 * short window run in one write transaction. A commit costs far more than the writes in it (the
 * hand-offs between lmdb-js's writer thread and this one, then the flush to disk: measured here
 * at 1,000 sends/s, one commit per send cost ~250 us of CPU per send, one commit per 10 ms
 * ~100 us), so under load fewer, larger commits leave more of the CPU for chat.
 *
 * An action after a quiet spell still commits at the end of its event-loop turn; only while
 * commits follow each other does an action wait, at most `windowMs`, for the next one.
 * Each action settles on its own, as lmdb-js does for the callbacks it batches: one that throws
 * rejects alone (what it wrote before throwing is committed with the rest).
 */
import type { RootDatabase } from "lmdb";

interface QueuedWrite {
  action: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export class CommitWindow {
  private queue: QueuedWrite[] = [];
  private immediate: NodeJS.Immediate | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastCommitAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly root: RootDatabase,
    private readonly windowMs: number,
  ) {}

  /** Runs `action` inside the next commit; resolves with its result once that is committed. */
  run<T>(action: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ action, resolve: resolve as (value: unknown) => void, reject });
      if (this.immediate || this.timer) return;
      const wait = this.lastCommitAt + this.windowMs - performance.now();
      if (wait > 0) this.timer = setTimeout(this.commit, wait);
      else this.immediate = setImmediate(this.commit);
    });
  }

  /** Starts the commit of what is queued now, without waiting for the window. */
  readonly commit = (): void => {
    clearImmediate(this.immediate);
    clearTimeout(this.timer);
    this.immediate = undefined;
    this.timer = undefined;
    const writes = this.queue;
    if (writes.length === 0) return;
    this.queue = [];
    this.lastCommitAt = performance.now();
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    this.root
      .transaction(() => {
        for (const write of writes) {
          try {
            outcomes.push({ ok: true, value: write.action() });
          } catch (error) {
            outcomes.push({ ok: false, error });
          }
        }
      })
      .then(
        () => {
          for (const [i, write] of writes.entries()) {
            const outcome = outcomes[i];
            if (outcome?.ok) write.resolve(outcome.value);
            else write.reject(outcome?.error);
          }
        },
        (error: unknown) => {
          for (const write of writes) write.reject(error);
        },
      );
  };
}
