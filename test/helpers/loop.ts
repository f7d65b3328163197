/** Keeps the event loop running callbacks for `ms`, a turn at a time, as a storm keeps a server busy. */
export async function saturate (ms: number): Promise<void> {
  const end = performance.now() + ms
  while (performance.now() < end) {
    const turnEnd = Math.min(end, performance.now() + 20)
    while (performance.now() < turnEnd) { /* busy */ }
    await new Promise((resolve) => setImmediate(resolve))
  }
}
