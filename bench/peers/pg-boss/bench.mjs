// pg-boss harness: the `noop` and `latency` workloads of jobs-bench, same JSON last line.
//   node bench.mjs noop --jobs N --concurrency W --batch B --poll SECONDS
//   node bench.mjs latency --samples S --poll SECONDS
// W workers (pg-boss 10 has no per-worker concurrency: one work() call each), each fetching
// B jobs per poll (pg-boss's default is 1, polling every 2 s). Schema bench_pgb_<pid>, dropped.
import PgBoss from "pg-boss";
import { parseArgs, peakRssMb, percentile, report, resetPeakRss, signal, until } from "../common.mjs";

const o = parseArgs({ jobs: 10000, concurrency: 1, batch: 1000, poll: 0.5, samples: 100, timeout: 300 });
const schema = `bench_pgb_${process.pid}`;
const boss = new PgBoss({ connectionString: "postgres://root@127.0.0.1:5432/test", schema, max: 10 });
boss.on("error", (e) => console.error("pg-boss:", e.message));
const limit = o.timeout * 1000;
let done = 0;
let started = signal();

await boss.start();
try {
  await boss.createQueue("noop");
  if (o.scenario === "noop") {
    let t = performance.now();
    for (let s = 0; s < o.jobs; s += 1000) {
      const batch = [];
      for (let i = s; i < Math.min(s + 1000, o.jobs); i++) batch.push({ name: "noop", data: { n: i } });
      await boss.insert(batch);
    }
    const enq = o.jobs / ((performance.now() - t) / 1000);
    resetPeakRss();
    t = performance.now();
    for (let w = 0; w < o.concurrency; w++) {
      await boss.work("noop", { batchSize: o.batch, pollingIntervalSeconds: o.poll }, async (jobs) => { done += jobs.length; });
    }
    await until(() => done >= o.jobs, limit);
    const secs = (performance.now() - t) / 1000;
    const rss = peakRssMb();
    console.log(`pg-boss noop: ${o.jobs} jobs in ${secs.toFixed(3)} s, ${o.concurrency} worker(s) x batch ${o.batch}, poll ${o.poll} s; insert ${Math.round(enq)}/s; RSS ${rss} MiB`);
    report({ scenario: "noop", backend: "postgres", jobs: o.jobs, concurrency: o.concurrency,
      enqueue_per_s: enq, process_per_s: o.jobs / secs, peak_rss_mb: rss });
  } else {
    resetPeakRss();
    await boss.work("noop", { pollingIntervalSeconds: o.poll }, async () => { started.resolve(performance.now()); });
    await new Promise((r) => setTimeout(r, 300));
    const lat = [];
    const end = performance.now() + limit;
    for (let i = 0; i < o.samples && performance.now() < end; i++) {
      started = signal();
      const t0 = performance.now();
      await boss.send("noop", { n: i });
      const timer = new Promise((_, rej) => setTimeout(() => rej(new Error(`sample ${i} did not start in 10 s`)), 10000));
      lat.push((await Promise.race([started.promise, timer])) - t0);
    }
    const rss = peakRssMb();
    lat.sort((a, b) => a - b);
    const [p50, p99] = [percentile(lat, 0.5), percentile(lat, 0.99)];
    console.log(`pg-boss latency (poll ${o.poll} s): ${lat.length} samples, p50 ${p50.toFixed(3)} ms, p99 ${p99.toFixed(3)} ms`);
    report({ scenario: "latency", backend: "postgres", jobs: lat.length, concurrency: 1, p50_ms: p50, p99_ms: p99, peak_rss_mb: rss });
  }
} finally {
  await boss.stop({ graceful: false, wait: true, timeout: 2000 }).catch(() => {});
  const pg = await import("pg").then((m) => m.default);
  const client = new pg.Client({ connectionString: "postgres://root@127.0.0.1:5432/test" });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await client.end();
}
process.exit(0);
