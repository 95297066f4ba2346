# Prints, as one JSON object, what Ruby Sidekiq's API sees: every queue, the `default` queue's
# jobs, the scheduled, retry and dead sets, and the stats. REDIS_URL picks the database.
require "sidekiq"
require "sidekiq/api"
require "json"

# redis-rb 4.8 warns on every SADD Sidekiq 6.4 sends; the warning is not ours to fix.
Redis.silence_deprecations = true if Redis.respond_to?(:silence_deprecations=)

def entry(e)
  {
    "jid" => e.jid, "class" => e.klass, "display_class" => e.display_class,
    "args" => e.args, "queue" => e.queue, "at" => e.at.to_f,
    "error_class" => e["error_class"], "error_message" => e["error_message"],
    "retry_count" => e["retry_count"], "failed_at" => e["failed_at"],
    "traceparent" => e["traceparent"],
  }
end

queue = Sidekiq::Queue.new("default")
stats = Sidekiq::Stats.new
out = {
  "version" => Sidekiq::VERSION,
  "queues" => Sidekiq::Queue.all.map(&:name),
  "queue" => {
    "size" => queue.size,
    "latency" => queue.latency,
    "jobs" => queue.map { |j|
      {"jid" => j.jid, "class" => j.klass, "args" => j.args, "queue" => j.queue,
       "enqueued_at" => j.enqueued_at&.to_f, "created_at" => j.created_at&.to_f,
       "traceparent" => j["traceparent"], "bid" => j["bid"]}
    },
  },
  "scheduled" => Sidekiq::ScheduledSet.new.map { |e| entry(e) },
  "retry" => Sidekiq::RetrySet.new.map { |e| entry(e) },
  "dead" => Sidekiq::DeadSet.new.map { |e| entry(e) },
  "stats" => {
    "processed" => stats.processed, "failed" => stats.failed, "enqueued" => stats.enqueued,
    "scheduled_size" => stats.scheduled_size, "retry_size" => stats.retry_size,
    "dead_size" => stats.dead_size, "queues" => stats.queues,
  },
}
puts JSON.generate(out)
