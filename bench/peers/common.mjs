// Shared by the Node harnesses: options, percentiles, peak RSS and the JSON report line.
import { readFileSync, writeFileSync } from "node:fs";

/** Parses `<scenario> --flag value ...` with defaults. */
export function parseArgs(defaults) {
  const [scenario = "noop", ...rest] = process.argv.slice(2);
  const opts = { ...defaults, scenario };
  for (let i = 0; i < rest.length; i += 2) {
    const key = rest[i].replace(/^--/, "");
    if (!(key in defaults)) throw new Error(`unknown option ${rest[i]}`);
    opts[key] = Number(rest[i + 1]);
  }
  return opts;
}

/** Resets this process's RSS high-water mark (Linux clear_refs 5). */
export function resetPeakRss() {
  try { writeFileSync("/proc/self/clear_refs", "5"); } catch { /* unsupported */ }
}

/** VmHWM of this process in MiB. */
export function peakRssMb() {
  const line = readFileSync("/proc/self/status", "utf8").split("\n").find((l) => l.startsWith("VmHWM:"));
  return line ? Math.round((Number(line.split(/\s+/)[1]) / 1024) * 10) / 10 : null;
}

/** Nearest-rank percentile of sorted samples. */
export function percentile(sorted, p) {
  if (!sorted.length) return null;
  return sorted[Math.max(0, Math.ceil(sorted.length * p) - 1)];
}

/** Prints the report as the last line. */
export function report(fields) {
  const r = {
    scenario: null, backend: null, jobs: null, concurrency: null, processes: 1,
    enqueue_per_s: null, process_per_s: null, p50_ms: null, p99_ms: null, peak_rss_mb: null,
    ...fields,
  };
  for (const k of ["enqueue_per_s", "process_per_s", "p50_ms", "p99_ms"]) {
    if (typeof r[k] === "number") r[k] = Math.round(r[k] * 1000) / 1000;
  }
  console.log(JSON.stringify(r));
}

/** Resolves when `cond()` holds, polling every `ms`; rejects after `timeoutMs`. */
export async function until(cond, timeoutMs, ms = 1) {
  const end = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > end) throw new Error("time limit reached");
    await new Promise((r) => setTimeout(r, ms));
  }
}

/** A promise and its resolver, for "the next job started". */
export function signal() {
  let resolve;
  const promise = new Promise((r) => { resolve = r; });
  return { promise, resolve };
}
