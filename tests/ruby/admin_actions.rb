# Acts on the jobs and processes of a database as Sidekiq's web UI does, through Ruby
# Sidekiq's API. REDIS_URL picks the database; INTEROP_DEADLINE_SECS bounds waits (default 20).
#
#   retry_all      "Retry now" on every retry and dead job there now, each once;
#                  prints {"retried": n, "revived": n}
#   quiet ID       Quiet process ID, then wait until its record shows it quiet
#   stop ID        Stop process ID, then wait until it leaves the ProcessSet
require "sidekiq"
require "sidekiq/api"
require "json"

# redis-rb 4.8 warns on every SADD Sidekiq 6.4 sends; the warning is not ours to fix.
Redis.silence_deprecations = true if Redis.respond_to?(:silence_deprecations=)

DEADLINE = Time.now + Float(ENV.fetch("INTEROP_DEADLINE_SECS", "20"))

def wait_for(what)
  until yield
    abort("#{what}: not within the deadline") if Time.now > DEADLINE
    sleep 0.05
  end
end

find = ->(id) { Sidekiq::ProcessSet.new.find { |p| p.identity == id } }

case ARGV[0]
when "retry_all"
  retries = Sidekiq::RetrySet.new
  dead = Sidekiq::DeadSet.new
  # The entries there now, each once: Sidekiq's own `retry_all` repeats `each(&:retry)` while
  # the set is not empty, so a worker quick enough to fail a job back into the set before
  # the loop looks again gets it retried again (and the test sees extra runs).
  entries = retries.to_a + dead.to_a
  counts = {"retried" => retries.size, "revived" => dead.size}
  entries.each(&:retry)
  puts JSON.generate(counts)
when "quiet"
  wait_for("process #{ARGV[1]} listed") { find.(ARGV[1]) }
  find.(ARGV[1]).quiet!
  wait_for("process #{ARGV[1]} quiet") { find.(ARGV[1])&.stopping? }
  puts JSON.generate({"quiet" => true})
when "stop"
  wait_for("process #{ARGV[1]} listed") { find.(ARGV[1]) }
  find.(ARGV[1]).stop!
  wait_for("process #{ARGV[1]} gone") { find.(ARGV[1]).nil? }
  puts JSON.generate({"stopped" => true})
else
  abort("usage: admin_actions.rb retry_all | quiet ID | stop ID")
end
