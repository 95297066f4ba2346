# Takes actions through Sidekiq::Web (Sidekiq 6.4) in process with Rack::MockRequest, as an
# operator clicks them, on the data in REDIS_URL (written by Rust), and prints one JSON
# object: for each action, the status Sidekiq::Web answered (302 when it acted) or an error.
# ARGV[0] is a JSON array of actions, each one of
#   {"do": "retry"|"delete"|"kill", "set": "retries"|"morgue", "jid": JID}
#   {"do": "add_to_queue"|"delete", "set": "scheduled", "jid": JID}
#   {"do": "delete", "queue": NAME, "jid": JID}
#   {"do": "quiet"|"stop", "identity": ID}
# The web application is driven without its CSRF middleware (Rack::MockRequest has no
# browser session); the routes and the code behind them are the ones a click reaches.
require "sidekiq"
require "sidekiq/api"
require "sidekiq/web"
require "rack/mock"
require "json"

Redis.silence_deprecations = true if Redis.respond_to?(:silence_deprecations=)

app = Sidekiq::WebApplication.new(Sidekiq::Web)
SETS = {"retries" => Sidekiq::RetrySet, "morgue" => Sidekiq::DeadSet, "scheduled" => Sidekiq::ScheduledSet}

def post(app, path, params)
  Rack::MockRequest.new(app).post(path, params: params, "rack.session" => {})
end

result = []
JSON.parse(ARGV.fetch(0)).each do |a|
  res =
    if a["identity"]
      post(app, "/busy", {"identity" => a["identity"], a["do"] => "1"})
    elsif a["queue"]
      job = Sidekiq::Queue.new(a["queue"]).find { |j| j.jid == a["jid"] }
      job && post(app, "/queues/#{a["queue"]}/delete", {"key_val" => job.value})
    else
      job = SETS.fetch(a["set"]).new.find { |j| j.jid == a["jid"] }
      job && post(app, "/#{a["set"]}/#{job.score}-#{job.jid}", {a["do"] => "1"})
    end
  result << (res ? {"action" => a, "status" => res.status} : {"action" => a, "error" => "no such job"})
end
puts JSON.generate(result)
