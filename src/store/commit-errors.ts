/**
 * lmdb-js reports a failed commit (disk full, I/O error) to the writes of that transaction,
 * which the back-end turns into `UNAVAILABLE` and an unready worker, and also rejects internal
 * promises of its own that nobody can await. Those must not crash the process: the failure is
 * already handled. Any other unhandled rejection still ends the process as Node.js would.
 */
export function survivesFailedCommits(): void {
  process.on("unhandledRejection", (reason) => {
    if (isCommitError(reason)) return;
    throw reason;
  });
}

function isCommitError(reason: unknown): boolean {
  if (!(reason instanceof Error)) return false;
  const commitError = (reason as { commitError?: unknown }).commitError;
  if (commitError instanceof Promise) commitError.catch(() => {});
  // The commit's own error (ENOSPC, EIO) is raised from lmdb-js's writer before any write
  // learns of the failure.
  return commitError !== undefined || /[\\/]lmdb[\\/]/.test(reason.stack ?? "");
}
