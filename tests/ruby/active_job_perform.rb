# Performs the Active Job payloads a Rust client left on Sidekiq's `default` queue the way
# Sidekiq does (Active Job's `JobWrapper#perform` with the payload's `args[0]`), and checks
# that each `InteropEchoJob` received `[i, {name: "job-i", tags: ["a", "b"]}]` with Symbol
# keys (compared with `eql?`). ARGV[0] is how many payloads to expect. Prints "ok <n>" and
# exits 0, or prints what differs and exits 1. REDIS_URL picks the database.
require_relative "active_job_common"

want = Integer(ARGV.fetch(0))
raw = Sidekiq.redis { |c| c.lrange("queue:default", 0, -1) }
problems = []
problems << "#{raw.size} payloads on queue:default, expected #{want}" if raw.size != want
wrapper = ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper
raw.each do |text|
  payload = JSON.parse(text)
  problems << "class #{payload["class"]}" unless payload["class"] == wrapper.name
  problems << "wrapped #{payload["wrapped"]}" unless payload["wrapped"] == "InteropEchoJob"
  problems << "retry #{payload["retry"].inspect}" unless payload["retry"] == true
  w = wrapper.new
  w.jid = payload["jid"]
  w.perform(payload["args"][0])
end
got = InteropEchoJob.performed.map { |_, args| args }.sort_by(&:first)
expected = (0...want).map { |i| [i, {name: "job-#{i}", tags: ["a", "b"]}] }
problems << "performed #{got.inspect[0, 500]}, expected #{expected.inspect[0, 500]}" unless got.eql?(expected)
ids = InteropEchoJob.performed.map(&:first)
problems << "job ids #{ids.inspect}" unless ids.all? { |id| id.is_a?(String) && id.size == 36 } && ids.uniq.size == ids.size
if problems.empty?
  puts "ok #{got.size}"
else
  puts problems
  exit 1
end
