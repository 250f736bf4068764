/**
 * A worker process's entry point (what the primary forks): loads the worker, and when it cannot
 * start (a module that does not load on this runtime, a back-end that cannot start) reports
 * why to the primary instead of dying with a stack trace.
 */
import { exitWithStartFailure } from "./cluster/start-failure.js";

try {
  await import("./worker.js");
} catch (error) {
  exitWithStartFailure(error);
}
