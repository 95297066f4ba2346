# Enqueues `InteropKwJob`, an Active Job whose `perform(id, locale:, plan: nil)` takes keyword
# arguments, twice, and prints one JSON object: for each job's `job_id`, the
# `[id, locale, plan]` a Rust job declared with those three parameters must receive.
# REDIS_URL picks the database.
require_relative "active_job_common"

class InteropKwJob < ActiveJob::Base
  queue_as :kw

  def perform(id, locale:, plan: nil) = nil
end

expected = {}
a = InteropKwJob.perform_later(1, locale: "en")
expected[a.job_id] = [1, "en", nil]
b = InteropKwJob.perform_later(2, locale: "de", plan: "pro")
expected[b.job_id] = [2, "de", "pro"]
puts JSON.generate(expected)
