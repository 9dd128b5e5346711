// Chaining cancellation from a parent signal to a controller of our own.

/**
 * Aborts `controller` when `parent` aborts (with the parent's reason), and returns it.
 * Cheaper than `AbortSignal.any` on the per-request path, and the controller can still be
 * aborted on its own (a first-byte timeout, a client that cancels its stream).
 */
export function followAbort(parent: AbortSignal, controller: AbortController): AbortController {
  if (parent.aborted) controller.abort(parent.reason);
  else parent.addEventListener("abort", () => controller.abort(parent.reason), { once: true });
  return controller;
}

/**
 * `followAbort`, begun only `afterMs` from now; returns a function that cancels it if it has
 * not begun. A listener on Bun's request signal costs about 5 µs a request at one connection
 * (bench/RESULTS.md, eighth session), which an upstream call answered sooner never needs. A
 * client that left in the meantime is caught at `afterMs`, when its signal is read.
 */
export function followAbortAfter(parent: AbortSignal, controller: AbortController, afterMs: number): () => void {
  if (parent.aborted) {
    followAbort(parent, controller);
    return () => {};
  }
  const timer = setTimeout(() => followAbort(parent, controller), afterMs);
  return () => clearTimeout(timer);
}
