# Waits until Ruby Sidekiq's ProcessSet lists the process ARGV[0] and its WorkSet
# (Sidekiq::Workers) lists job ARGV[1] running there, then prints both as JSON. Exits 1 with
# what it saw when INTEROP_DEADLINE_SECS (default 20) passes first. REDIS_URL picks the database.
require "sidekiq"
require "sidekiq/api"
require "json"

# redis-rb 4.8 warns on every SADD Sidekiq 6.4 sends; the warning is not ours to fix.
Redis.silence_deprecations = true if Redis.respond_to?(:silence_deprecations=)

identity, jid = ARGV
deadline = Time.now + Float(ENV.fetch("INTEROP_DEADLINE_SECS", "20"))
process = nil
work = nil
loop do
  process = Sidekiq::ProcessSet.new.find { |p| p.identity == identity }
  work = nil
  Sidekiq::Workers.new.each do |pid, tid, w|
    work = {"process" => pid, "thread" => tid, "work" => w} if pid == identity && w.dig("payload", "jid") == jid
  end
  break if (process && work) || Time.now > deadline
  sleep 0.05
end
seen = {
  "process" => process && {
    "identity" => process.identity, "hostname" => process["hostname"], "pid" => process["pid"],
    "queues" => process.queues, "concurrency" => process["concurrency"], "busy" => process["busy"],
    "beat" => process["beat"], "started_at" => process["started_at"], "quiet" => process.stopping?,
    "tag" => process.tag, "labels" => process.labels,
  },
  "work" => work,
  "all_processes" => Sidekiq::ProcessSet.new.map(&:identity),
  "workers_size" => Sidekiq::Workers.new.size,
}
puts JSON.generate(seen)
exit((process && work) ? 0 : 1)
