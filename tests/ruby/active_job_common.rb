# Shared by the Active Job interop scripts: Sidekiq as Active Job's queue adapter on REDIS_URL,
# the `InteropEchoJob` class, and a GlobalID-able `InteropUser` that needs no database.
require "sidekiq"
require "active_job"
require "active_job/queue_adapters/sidekiq_adapter"
require "active_support/core_ext/integer/time"
require "active_support/core_ext/numeric/time"
require "global_id"
require "bigdecimal"
require "json"
require "logger"

# redis-rb 4.8 warns on every SADD Sidekiq 6.4 sends; the warning is not ours to fix.
Redis.silence_deprecations = true if Redis.respond_to?(:silence_deprecations=)

ActiveJob::Base.queue_adapter = :sidekiq
ActiveJob::Base.logger = Logger.new(nil)
# Sidekiq 6.4 warns (on stdout) that GlobalID and Symbol arguments are not plain JSON.
Sidekiq.logger.level = Logger::ERROR
GlobalID.app = "interop"

# A record GlobalID can name and locate, without Active Record.
class InteropUser
  include GlobalID::Identification
  attr_reader :id

  def initialize(id)
    @id = id
  end

  def self.find(id)
    new(id)
  end

  def ==(other)
    other.is_a?(InteropUser) && other.id.to_s == id.to_s
  end
end

# The Active Job both sides know; `active_job_perform.rb` records what `perform` receives.
class InteropEchoJob < ActiveJob::Base
  queue_as :default

  class << self
    attr_accessor :performed
  end
  self.performed = []

  def perform(*args)
    self.class.performed << [job_id, args]
  end
end
