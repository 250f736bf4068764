/**
 * A worker process's entry point (what the primary forks): loads the worker, and when it cannot
 * start (a module that does not load on this runtime, a back-end that cannot start) reports
 * why to the primary instead of dying with a stack trace.
 */
import { exitWithStartFailure } from "./cluster/start-failure.js";

// A worker whose primary is gone ends at once, even while it is still loading (the primary's
// `disconnect` can come before worker.js has registered a handler). It ends by SIGKILL, not
// process.exit: exit hooks would wait for the embedded store's writer thread, which may be
// waiting for this thread in the middle of a transaction, and the worker would hang as an
// orphan holding the store's write lock. Killed, the kernel frees everything and LMDB
// recovers its lock; a transaction cut short was never committed, so never acknowledged.
function endWithPrimary(): void {
  process.kill(process.pid, "SIGKILL");
}
// First in line: Node's cluster module registered its own listener before this file ran, and it
// calls process.exit, the very hang described above (seen: an orphan worker whose main thread
// waited forever in exit for the store's writer thread, which waited for the main thread).
process.prependListener("disconnect", endWithPrimary);
if (process.send && !process.connected) endWithPrimary();

try {
  await import("./worker.js");
} catch (error) {
  exitWithStartFailure(error);
}
