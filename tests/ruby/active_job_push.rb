# Enqueues `InteropEchoJob` (an Active Job on Sidekiq's adapter) with `(id, payload)`
# arguments of every kind Active Job serializes, and prints one JSON object: for each job's
# Active Job `job_id`, the `[id, payload]` a Rust worker must receive, per the mapping
# documented in jobs::active_job (hashes as plain objects, GlobalIDs as their URI, symbols
# and modules as names, times as ISO 8601 with nanoseconds, durations as seconds, dates as
# ISO dates, BigDecimal as its string). REDIS_URL picks the database.
require_relative "active_job_common"

time = Time.utc(2026, 12, 6, 4, 45, 54, 250_000)
local = Time.new(2026, 12, 6, 5, 45, 54, "+01:00")
zoned = Time.use_zone("Europe/Berlin") { Time.zone.local(2026, 12, 6, 5, 45, 54) }

# [payload as Ruby passes it, what Rust must receive as JSON]
CASES = [
  [42, 42],
  [-7.5, -7.5],
  ["héllo ✓", "héllo ✓"],
  [nil, nil],
  [true, true],
  [[1, "two", [3.0, nil]], [1, "two", [3.0, nil]]],
  [{name: "sym", n: 1}, {"name" => "sym", "n" => 1}],
  [{"name" => "str", "n" => 2}, {"name" => "str", "n" => 2}],
  [{"mixed" => 1, sym: {deep: [1, {x: nil}]}}, {"mixed" => 1, "sym" => {"deep" => [1, {"x" => nil}]}}],
  [ActiveSupport::HashWithIndifferentAccess.new("k" => 1, "l" => [2]), {"k" => 1, "l" => [2]}],
  [InteropUser.new(5), "gid://interop/InteropUser/5"],
  [[InteropUser.new(6), {owner: InteropUser.new(7)}], ["gid://interop/InteropUser/6", {"owner" => "gid://interop/InteropUser/7"}]],
  [:pro, "pro"],
  [[:a, {b: :c}], ["a", {"b" => "c"}]],
  [time, time.iso8601(9)],
  [local, local.iso8601(9)],
  [zoned, zoned.iso8601(9)],
  [time.to_datetime, time.to_datetime.iso8601(9)],
  [Date.new(2026, 12, 6), "2026-12-06"],
  [90.minutes, 5400],
  [2.5.seconds, 2.5],
  [BigDecimal("19.99"), BigDecimal("19.99").to_s],
  [InteropUser, "InteropUser"],
].freeze

expected = {}
CASES.each_with_index do |(payload, want), id|
  job = InteropEchoJob.perform_later(id, payload)
  expected[job.job_id] = [id, want]
end
# Keyword arguments: Active Job marks the last hash with `_aj_ruby2_keywords`.
kw = InteropEchoJob.perform_later(CASES.size, force: true, tags: ["x"])
expected[kw.job_id] = [CASES.size, {"force" => true, "tags" => ["x"]}]

puts JSON.generate(expected)
