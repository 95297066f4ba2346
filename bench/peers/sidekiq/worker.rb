# Sidekiq 6.4 worker for the jobs benchmarks: a no-op job with one integer argument.
#
# BENCH_NOLOG=1 raises the log level so Sidekiq does not log each job's start and done.
# BENCH_STARTS=key makes each job push its wall-clock start time to that list (latency runs).
require "sidekiq"

Sidekiq.logger.level = Logger::WARN if ENV["BENCH_NOLOG"] == "1"

class NoopJob
  include Sidekiq::Worker

  def perform(n)
    if (key = ENV["BENCH_STARTS"])
      t = Process.clock_gettime(Process::CLOCK_REALTIME)
      Sidekiq.redis { |r| r.rpush(key, t.to_s) }
    end
    n
  end
end
