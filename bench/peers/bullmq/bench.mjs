// BullMQ harness: the `noop` and `latency` workloads of jobs-bench, same JSON last line.
//   node bench.mjs noop --jobs N --concurrency C      (addBulk in batches of 1,000)
//   node bench.mjs latency --samples S
// Redis db 12 under a unique prefix; the queue is obliterated and the keys deleted at the end.
// Completed jobs are removed (removeOnComplete), BullMQ's recommended setting for volume.
import { Queue, Worker } from "bullmq";
import IORedis from "ioredis";
import { parseArgs, peakRssMb, percentile, report, resetPeakRss, signal, until } from "../common.mjs";

const o = parseArgs({ jobs: 10000, concurrency: 10, samples: 1000, timeout: 300 });
const redisOpts = { host: "127.0.0.1", port: 6379, db: 12, maxRetriesPerRequest: null };
const connection = new IORedis(redisOpts);
// A worker needs connections of its own (it blocks on one).
const workerConnection = () => new IORedis(redisOpts);
const prefix = `bench_bull_${process.pid}`;
const queue = new Queue("noop", { connection, prefix });
const limit = o.timeout * 1000;
let done = 0;
let started = signal();

try {
  if (o.scenario === "noop") {
    let t = performance.now();
    for (let s = 0; s < o.jobs; s += 1000) {
      const batch = [];
      for (let i = s; i < Math.min(s + 1000, o.jobs); i++) {
        batch.push({ name: "noop", data: { n: i }, opts: { removeOnComplete: true, removeOnFail: true } });
      }
      await queue.addBulk(batch);
    }
    const enq = o.jobs / ((performance.now() - t) / 1000);
    resetPeakRss();
    t = performance.now();
    const worker = new Worker("noop", async () => { done++; }, { connection: workerConnection(), prefix, concurrency: o.concurrency });
    await until(() => done >= o.jobs, limit);
    const secs = (performance.now() - t) / 1000;
    const rss = peakRssMb();
    await worker.close();
    console.log(`bullmq noop: ${o.jobs} jobs in ${secs.toFixed(3)} s at concurrency ${o.concurrency}; addBulk ${Math.round(enq)}/s; RSS ${rss} MiB`);
    report({ scenario: "noop", backend: "redis", jobs: o.jobs, concurrency: o.concurrency,
      enqueue_per_s: enq, process_per_s: o.jobs / secs, peak_rss_mb: rss });
  } else {
    resetPeakRss();
    const worker = new Worker("noop", async () => { started.resolve(performance.now()); }, { connection: workerConnection(), prefix, concurrency: 10 });
    await worker.waitUntilReady();
    await new Promise((r) => setTimeout(r, 300));
    const lat = [];
    const end = performance.now() + limit;
    for (let i = 0; i < o.samples && performance.now() < end; i++) {
      started = signal();
      const t0 = performance.now();
      await queue.add("noop", { n: i }, { removeOnComplete: true });
      const timer = new Promise((_, rej) => setTimeout(() => rej(new Error(`sample ${i} did not start in 10 s`)), 10000));
      lat.push((await Promise.race([started.promise, timer])) - t0);
    }
    const rss = peakRssMb();
    await worker.close();
    lat.sort((a, b) => a - b);
    const [p50, p99] = [percentile(lat, 0.5), percentile(lat, 0.99)];
    console.log(`bullmq latency: ${lat.length} samples, p50 ${p50.toFixed(3)} ms, p99 ${p99.toFixed(3)} ms`);
    report({ scenario: "latency", backend: "redis", jobs: lat.length, concurrency: 10, p50_ms: p50, p99_ms: p99, peak_rss_mb: rss });
  }
} finally {
  await queue.obliterate({ force: true }).catch(() => {});
  const client = connection;
  let cursor = "0";
  for (let i = 0; i < 100000; i++) {
    const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
    if (keys.length) await client.del(...keys);
    cursor = next;
    if (cursor === "0") break;
  }
  await queue.close();
}
process.exit(0);
