# Sidekiq 6.4 harness: the `noop` and `latency` workloads of jobs-bench, same JSON last line.
#
#   ruby bench.rb noop --jobs N --concurrency C [--processes P] [--nolog]
#   ruby bench.rb latency --samples S
# Uses Redis database 11 (BENCH_REDIS_DB), flushed before and after. noop: push_bulk in
# batches of 1,000, then spawn P `sidekiq -c C` processes and time from the first fetch until the queue is empty
# (Sidekiq 6 flushes its processed counter only every heartbeat; a fetched no-op ends in µs).
require "json"
require "sidekiq"
require "sidekiq/api"

opts = { jobs: 10_000, concurrency: 10, processes: 1, samples: 1000, nolog: false, timeout: 300 }
scenario = ARGV.shift || "noop"
while (flag = ARGV.shift)
  case flag
  when "--nolog" then opts[:nolog] = true
  when "--jobs" then opts[:jobs] = Integer(ARGV.shift)
  when "--concurrency" then opts[:concurrency] = Integer(ARGV.shift)
  when "--processes" then opts[:processes] = Integer(ARGV.shift)
  when "--samples" then opts[:samples] = Integer(ARGV.shift)
  when "--timeout" then opts[:timeout] = Integer(ARGV.shift)
  else abort "unknown option #{flag}"
  end
end

db = ENV.fetch("BENCH_REDIS_DB", "11")
url = "redis://127.0.0.1:6379/#{db}"
ENV["REDIS_URL"] = url
Sidekiq.configure_client { |c| c.redis = { url: url, size: 5 } }
Sidekiq.logger.level = Logger::WARN
here = __dir__
now = -> { Process.clock_gettime(Process::CLOCK_MONOTONIC) }
deadline = now.call + opts[:timeout]
Sidekiq.redis(&:flushdb)

def vm_hwm_mb(pid)
  line = File.readlines("/proc/#{pid}/status").find { |l| l.start_with?("VmHWM:") }
  line && (line.split[1].to_f / 1024).round(1)
rescue Errno::ENOENT
  nil
end

# Every worker process started, so an early exit still stops them.
$spawned = []
at_exit { $spawned.each { |pid| Process.kill("TERM", pid) rescue nil } }

def spawn_workers(n, here, opts, env = {})
  env = env.merge("BENCH_NOLOG" => opts[:nolog] ? "1" : "0")
  $spawned += Array.new(n) do
    Process.spawn(env, "sidekiq", "-r", File.join(here, "worker.rb"), "-c", opts[:concurrency].to_s,
                  "-q", "default", out: File::NULL, err: ENV["BENCH_DEBUG"] ? $stderr : File::NULL)
  end
  $spawned.last(n)
end

def stop_workers(pids)
  rss = pids.map { |pid| vm_hwm_mb(pid) }
  pids.each { |pid| Process.kill("TERM", pid) rescue nil }
  pids.each { |pid| Process.wait(pid) rescue nil }
  $spawned -= pids
  rss
end

result = { scenario: scenario, backend: "redis", jobs: nil, concurrency: opts[:concurrency],
           processes: opts[:processes], enqueue_per_s: nil, process_per_s: nil,
           p50_ms: nil, p99_ms: nil, peak_rss_mb: nil }
begin
  case scenario
  when "noop"
    n = opts[:jobs]
    t = now.call
    (0...n).each_slice(1000) do |slice|
      Sidekiq::Client.push_bulk("class" => "NoopJob", "queue" => "default", "args" => slice.map { |i| [i] })
    end
    enq = n / (now.call - t)
    spawned_at = now.call
    pids = spawn_workers(opts[:processes], here, opts)
    # The clock starts at the first fetch (the queue shrinks), not at Ruby's ~1 s boot.
    t = nil
    done = false
    until done || now.call > deadline
      sleep 0.001
      left = Sidekiq.redis { |r| r.llen("queue:default") }
      t ||= now.call if left < n
      done = left.zero?
    end
    secs = now.call - (t || spawned_at)
    puts "boot to first fetch #{((t || spawned_at) - spawned_at).round(3)} s (not counted)"
    rss = stop_workers(pids)
    abort "time limit reached" unless done
    log = opts[:nolog] ? "no per-job log" : "per-job log"
    puts "sidekiq #{Sidekiq::VERSION} noop: #{n} jobs in #{secs.round(3)} s with #{opts[:processes]} x -c #{opts[:concurrency]} (#{log}); push_bulk #{enq.round}/s; RSS #{rss.inspect} MiB"
    result.merge!(jobs: n, enqueue_per_s: enq.round(1), process_per_s: (n / secs).round(1), peak_rss_mb: rss.compact.max)
  when "latency"
    key = "bench:starts"
    result[:processes] = 1
    pids = spawn_workers(1, here, opts.merge(nolog: true), "BENCH_STARTS" => key)
    # Wait until the process is up and fetching: one warm-up job round trip.
    Sidekiq::Client.push("class" => "NoopJob", "args" => [0])
    Sidekiq.redis { |r| r.blpop(key, timeout: 30) } or abort "sidekiq did not start"
    sleep 0.3
    lat = []
    opts[:samples].times do |i|
      break if now.call > deadline
      t0 = Process.clock_gettime(Process::CLOCK_REALTIME)
      Sidekiq::Client.push("class" => "NoopJob", "args" => [i])
      _, start = Sidekiq.redis { |r| r.blpop(key, timeout: 10) }
      abort "sample #{i} did not start in 10 s" unless start
      lat << (start.to_f - t0) * 1000.0
    end
    rss = stop_workers(pids)
    lat.sort!
    pct = ->(p) { lat[[(lat.size * p).ceil - 1, 0].max] }
    puts "sidekiq #{Sidekiq::VERSION} latency: #{lat.size} samples, p50 #{pct.call(0.5).round(3)} ms, p99 #{pct.call(0.99).round(3)} ms"
    result.merge!(jobs: lat.size, p50_ms: pct.call(0.5).round(3), p99_ms: pct.call(0.99).round(3), peak_rss_mb: rss.compact.max)
  else
    abort "unknown scenario #{scenario}"
  end
ensure
  Sidekiq.redis(&:flushdb)
end
puts JSON.generate(result)
