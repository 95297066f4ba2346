# Renders Sidekiq::Web's pages (Sidekiq 6.4) in process with Rack::MockRequest against the
# data in REDIS_URL, and prints one JSON object: for each page, its status and which of the
# expected strings its body lacks. ARGV[0] is a JSON object {path => [strings]}; the paths
# "retry:first" and "dead:first" stand for the job page of the first retry / dead job. A
# page is rendered again (polling) until it has every string or INTEROP_DEADLINE_SECS
# (default 20) passes, as a Rust process's next heartbeat may be needed for the Busy page.
require "sidekiq"
require "sidekiq/api"
require "sidekiq/web"
require "rack/mock"
require "json"

# redis-rb 4.8 warns on every SADD Sidekiq 6.4 sends; the warning is not ours to fix.
Redis.silence_deprecations = true if Redis.respond_to?(:silence_deprecations=)

spec = JSON.parse(ARGV.fetch(0))
deadline = Time.now + Float(ENV.fetch("INTEROP_DEADLINE_SECS", "20"))
app = Sidekiq::Web.new

def resolve(path)
  case path
  when "retry:first" then (job = Sidekiq::RetrySet.new.first) && "/retries/#{job.score}-#{job.jid}"
  when "dead:first" then (job = Sidekiq::DeadSet.new.first) && "/morgue/#{job.score}-#{job.jid}"
  else path
  end
end

result = {}
spec.each do |name, wanted|
  loop do
    path = resolve(name)
    if path.nil?
      result[name] = {"status" => nil, "missing" => wanted, "error" => "no such job"}
    else
      res = Rack::MockRequest.new(app).get(path, "rack.session" => {})
      missing = wanted.reject { |s| res.body.include?(s) }
      result[name] = {"path" => path, "status" => res.status, "missing" => missing}
      result[name]["body"] = res.body[0, 2000] if res.status != 200
    end
    break if (result[name]["status"] == 200 && result[name]["missing"].empty?) || Time.now > deadline
    sleep 0.05
  end
end
puts JSON.generate(result)
