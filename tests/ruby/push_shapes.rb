# Pushes `InteropEcho` jobs whose args take many JSON shapes (with Sidekiq::Client.push,
# perform_async, perform_in and an "at"), waits until a worker recorded each of them on
# `interop:performed`, and checks that every job's args arrived unchanged (compared with
# `eql?`, so 1 and 1.0 differ). Prints "ok <n>" and exits 0, or prints what differs and
# exits 1. REDIS_URL picks the database; INTEROP_DEADLINE_SECS bounds the wait (default 30).
#
# KNOWN_LOSSY are shapes the Rust side does not keep exactly: integers beyond 64 bits become
# floats (floats themselves round-trip exactly: serde_json's `float_roundtrip` is on). Their differences print as "known: ..." lines and fail only with INTEROP_STRICT=1;
# one that arrives unchanged prints "known-now-exact: ...".
require "sidekiq"
require "json"

# redis-rb 4.8 warns on every SADD Sidekiq 6.4 sends; the warning is not ours to fix.
Redis.silence_deprecations = true if Redis.respond_to?(:silence_deprecations=)

class InteropEcho
  include Sidekiq::Worker
end

SHAPES = [
  [],
  [1, "job-1"],
  [nil],
  [true, false, nil],
  [{"nested" => {"list" => [1, [2, [3, {"deep" => "yes"}]]], "empty" => {}, "arr" => []}}],
  [{"a" => nil, "b" => [nil, {}], "" => "", "k with space" => {"x" => -0.5}}],
  ["héllo wörld ✓ 日本語 🚀", "family 👩‍👩‍👧‍👦", "quotes \" \\ / \n\t\r", "nul \u0000 bell \u0007"],
  [9_223_372_036_854_775_807, -9_223_372_036_854_775_808, 18_446_744_073_709_551_615, 0, -1],
  [3.14159, 0.1, -2.5e-10, 1.7976931348623157e308, 5.0e-324, 1.0, 1.5e300, -0.0, 12345.678],
  [[[[[]]]]],
  ["x" * 20_000],
  [1, 2.0, "3", [4], {"5" => 5}, nil, true],
  [123456789.123456789, 0.30000000000000004, 2.2250738585072014e-308, 9007199254740993.0],
].freeze

KNOWN_LOSSY = [
  [2**64, -(2**63) - 1, 2**100],
].freeze

expected = {}
known = {}
KNOWN_LOSSY.each do |args|
  jid = Sidekiq::Client.push("class" => "InteropEcho", "args" => args)
  expected[jid] = args
  known[jid] = true
end
SHAPES.each do |args|
  jid = Sidekiq::Client.push("class" => "InteropEcho", "args" => args)
  expected[jid] = args
end
expected[InteropEcho.perform_async("perform_async", {"n" => 1})] = ["perform_async", {"n" => 1}]
expected[InteropEcho.perform_in(1, "perform_in", {"k" => [1.5, nil]})] = ["perform_in", {"k" => [1.5, nil]}]
at_args = ["at", {"unicode" => "ü"}, 42]
expected[Sidekiq::Client.push("class" => "InteropEcho", "args" => at_args, "at" => Time.now.to_f + 0.5)] = at_args

deadline = Time.now + Float(ENV.fetch("INTEROP_DEADLINE_SECS", "30"))
records = []
loop do
  records = Sidekiq.redis { |c| c.lrange("interop:performed", 0, -1) }
  break if records.size >= expected.size || Time.now > deadline
  sleep 0.05
end

got = {}
records.each do |raw|
  rec = JSON.parse(raw)
  (got[rec["jid"]] ||= []) << rec["args"]
end
problems = []
expected.each do |jid, args|
  runs = got[jid]
  if runs.nil?
    problems << "job #{jid} #{JSON.generate(args)[0, 200]} was not performed"
  elsif !runs.all? { |a| a.eql?(args) }
    diff = "job #{jid}: sent #{args.inspect[0, 300]}, performed with #{runs.first.inspect[0, 300]}"
    if known[jid] && ENV["INTEROP_STRICT"] != "1"
      puts "known: #{diff}"
    else
      problems << diff
    end
  elsif known[jid]
    puts "known-now-exact: #{args.inspect}"
  end
end
(got.keys - expected.keys).each { |jid| problems << "unexpected job #{jid}" }
if problems.empty?
  puts "ok #{expected.size} jobs"
else
  puts problems
  exit 1
end
