// graphile-worker harness: the `noop` and `latency` workloads of jobs-bench, same JSON last line.
//   node bench.mjs noop --jobs N --concurrency C [--local SIZE]
//   node bench.mjs latency --samples S
// addJobs in batches of 1,000; `--local` turns on its local queue (batch fetching). Logging is
// silenced. Schema bench_gw_<pid>, dropped at the end.
import { Logger, makeWorkerUtils, run } from "graphile-worker";
import { parseArgs, peakRssMb, percentile, report, resetPeakRss, signal, until } from "../common.mjs";

const o = parseArgs({ jobs: 10000, concurrency: 10, local: 0, samples: 1000, timeout: 300 });
const connectionString = "postgres://root@127.0.0.1:5432/test";
const schema = `bench_gw_${process.pid}`;
const logger = new Logger(() => () => {});
const limit = o.timeout * 1000;
const utils = await makeWorkerUtils({ connectionString, schema, logger });
await utils.migrate();
let done = 0;
let started = signal();
const runner = (concurrency) => run({
  connectionString, schema, logger, concurrency, noHandleSignals: true, pollInterval: 2000,
  taskList: { noop: async () => { started.resolve(performance.now()); done++; } },
  preset: o.local > 0 ? { worker: { localQueue: { size: o.local } } } : undefined,
});

try {
  if (o.scenario === "noop") {
    let t = performance.now();
    for (let s = 0; s < o.jobs; s += 1000) {
      const batch = [];
      for (let i = s; i < Math.min(s + 1000, o.jobs); i++) batch.push({ identifier: "noop", payload: { n: i } });
      await utils.addJobs(batch);
    }
    const enq = o.jobs / ((performance.now() - t) / 1000);
    resetPeakRss();
    t = performance.now();
    const r = await runner(o.concurrency);
    await until(() => done >= o.jobs, limit);
    const secs = (performance.now() - t) / 1000;
    const rss = peakRssMb();
    await r.stop();
    const how = o.local > 0 ? `local queue ${o.local}` : "default";
    console.log(`graphile-worker noop: ${o.jobs} jobs in ${secs.toFixed(3)} s at concurrency ${o.concurrency} (${how}); addJobs ${Math.round(enq)}/s; RSS ${rss} MiB`);
    report({ scenario: "noop", backend: "postgres", jobs: o.jobs, concurrency: o.concurrency,
      enqueue_per_s: enq, process_per_s: o.jobs / secs, peak_rss_mb: rss });
  } else {
    resetPeakRss();
    const r = await runner(10);
    await new Promise((res) => setTimeout(res, 300));
    const lat = [];
    const end = performance.now() + limit;
    for (let i = 0; i < o.samples && performance.now() < end; i++) {
      started = signal();
      const t0 = performance.now();
      await utils.addJob("noop", { n: i });
      const timer = new Promise((_, rej) => setTimeout(() => rej(new Error(`sample ${i} did not start in 10 s`)), 10000));
      lat.push((await Promise.race([started.promise, timer])) - t0);
    }
    const rss = peakRssMb();
    await r.stop();
    lat.sort((a, b) => a - b);
    const [p50, p99] = [percentile(lat, 0.5), percentile(lat, 0.99)];
    console.log(`graphile-worker latency: ${lat.length} samples, p50 ${p50.toFixed(3)} ms, p99 ${p99.toFixed(3)} ms`);
    report({ scenario: "latency", backend: "postgres", jobs: lat.length, concurrency: 10, p50_ms: p50, p99_ms: p99, peak_rss_mb: rss });
  }
} finally {
  await utils.withPgClient((c) => c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`));
  await utils.release();
}
process.exit(0);
