/**
 * Calls that must reach Redis one after another per key (a cluster slot): each waits until the
 * one before it for the same key has been answered. Two batches' scripts for one slot then run
 * in the order the batches were made even when the client retries one of them (the cluster
 * client resends a command later on CLUSTERDOWN, TRYAGAIN or a closed connection, by which time
 * the next batch's command may have run): an inbox gets its messages in the order they were
 * sent. Calls for different keys do not wait for each other.
 */
const ignore = () => {};

export class InTurn<K> {
  private readonly tails = new Map<K, Promise<void>>();

  run<T>(key: K, call: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key);
    const result = previous ? previous.then(call) : call();
    const tail = result.then(ignore, ignore);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}
