# A Ruby Sidekiq worker for `InteropEcho` jobs: RPUSHes {"jid": .., "args": [..], "by": "ruby"}
# onto the list `interop:performed`, as the Rust example does (without "by").
# Loaded by `sidekiq -r ./echo_worker.rb`.
require "sidekiq"
require "json"

# redis-rb 4.8 warns on every SADD Sidekiq 6.4 sends; the warning is not ours to fix.
Redis.silence_deprecations = true if Redis.respond_to?(:silence_deprecations=)

class InteropEcho
  include Sidekiq::Worker

  def perform(*args)
    Sidekiq.redis do |conn|
      conn.rpush("interop:performed", JSON.generate({"jid" => jid, "args" => args, "by" => "ruby"}))
    end
  end
end
