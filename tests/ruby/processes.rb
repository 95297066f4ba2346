# Waits until Ruby Sidekiq's ProcessSet lists the process ARGV[0] as busy and its WorkSet
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
  # ProcessSet and Workers are two reads: the process may be read from the beat before the
  # one that listed the job, so wait for a beat that counts it busy too.
  break if (process && work && process["busy"].to_i > 0) || Time.now > deadline
  sleep 0.05
end
seen = {
  "process" => process && {
    "identity" => process.identity, "hostname" => process["hostname"], "pid" => process["pid"],
    "queues" => process.queues, "concurrency" => process["concurrency"], "busy" => process["busy"],
    "beat" => process["beat"], "started_at" => process["started_at"], "quiet" => process.stopping?,
    "tag" => process.tag, "labels" => process.labels, "rss" => process["rss"],
    "rtt_us" => process["rtt_us"],
  },
  "work" => work,
  "all_processes" => Sidekiq::ProcessSet.new.map(&:identity),
  "workers_size" => Sidekiq::Workers.new.size,
}
puts JSON.generate(seen)
exit((process && work && process["busy"].to_i > 0) ? 0 : 1)
