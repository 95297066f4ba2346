//! The in-memory backend's admin side: listing, actions on jobs, processes and counters.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{latency, MemoryBackend};
use crate::backend::*;
use crate::envelope::JobEnvelope;

#[async_trait]
impl AdminBackend for MemoryBackend {
    async fn queue_list(&self, params: QueueListParams) -> Result<Vec<QueueInfo>, BackendError> {
        let now = params.now;
        let st = self.lock();
        let mut names: Vec<&String> = st.queues.keys().chain(st.paused.iter()).collect();
        names.sort();
        names.dedup();
        Ok(names
            .into_iter()
            .map(|name| {
                let q = st.queues.get(name);
                QueueInfo {
                    name: name.clone(),
                    size: q.map_or(0, |q| q.len() as u64),
                    latency: latency(now, q.and_then(|q| q.front()).and_then(|j| j.enqueued_at)),
                    paused: st.paused.contains(name),
                }
            })
            .collect())
    }

    async fn queue_pause(&self, params: QueuePauseParams) -> Result<(), BackendError> {
        let (queue, paused) = (params.queue.as_str(), params.paused);
        {
            let mut st = self.lock();
            if paused {
                st.paused.insert(queue.to_owned());
            } else {
                st.paused.remove(queue);
            }
        }
        self.shared.wake.notify_waiters();
        Ok(())
    }

    async fn queue_clear(&self, params: QueueClearParams) -> Result<u64, BackendError> {
        let mut st = self.lock();
        let jobs = st.queues.remove(params.queue.as_str()).unwrap_or_default();
        for job in &jobs {
            st.release(job);
            st.left_queue(job);
        }
        Ok(jobs.len() as u64)
    }

    async fn job_list(&self, p: JobListParams) -> Result<JobPage, BackendError> {
        let st = self.lock();
        let stored = |at: Option<DateTime<Utc>>, j: &JobEnvelope| StoredJob {
            job: j.clone(),
            set: p.set.clone(),
            at,
        };
        Ok(match &p.set {
            JobSet::Queue(name) => JobPage::filtered(
                &p,
                st.queues
                    .get(name)
                    .into_iter()
                    .flatten()
                    .map(|j| stored(None, j)),
            ),
            JobSet::Scheduled => {
                JobPage::filtered(&p, st.scheduled.iter().map(|(at, j)| stored(Some(at), j)))
            }
            JobSet::Retry => {
                JobPage::filtered(&p, st.retry.iter().map(|(at, j)| stored(Some(at), j)))
            }
            JobSet::Cancelled => JobPage::filtered(
                &p,
                st.cancelled.iter().rev().map(|(at, j)| stored(Some(at), j)),
            ),
            // Most recent death first.
            _ => JobPage::filtered(&p, st.dead.iter().rev().map(|(at, j)| stored(Some(at), j))),
        })
    }

    async fn job_get(&self, params: JobGetParams) -> Result<Option<StoredJob>, BackendError> {
        let (set, jid) = (params.set, params.jid.as_str());
        let st = self.lock();
        let found = match &set {
            JobSet::Queue(name) => st
                .queues
                .get(name)
                .and_then(|q| q.iter().find(|j| j.jid == jid))
                .map(|j| (None, JobEnvelope::clone(j))),
            JobSet::Scheduled | JobSet::Retry | JobSet::Dead | JobSet::Cancelled => {
                let ts = match &set {
                    JobSet::Scheduled => &st.scheduled,
                    JobSet::Retry => &st.retry,
                    JobSet::Cancelled => &st.cancelled,
                    _ => &st.dead,
                };
                let found = ts.iter().find(|(_, j)| j.jid == jid);
                found.map(|(at, j)| (Some(at), j.clone()))
            }
        };
        Ok(found.map(|(at, job)| StoredJob { job, set, at }))
    }

    async fn job_delete(&self, p: JobActionParams) -> Result<u64, BackendError> {
        let mut st = self.lock();
        let jobs = st.take(&p.set, &p.selection);
        for job in &jobs {
            st.release(job);
        }
        Ok(jobs.len() as u64)
    }

    async fn unique_list(&self, p: UniqueListParams) -> Result<Vec<UniqueHeld>, BackendError> {
        let held = self.lock().locks_held(p.now);
        Ok(held.into_iter().skip(p.offset).take(p.limit).collect())
    }

    async fn unique_release(&self, p: UniqueReleaseParams) -> Result<bool, BackendError> {
        Ok(self.lock().locks.remove(&p.key).is_some())
    }

    async fn job_enqueue_now(&self, p: JobActionParams) -> Result<u64, BackendError> {
        if matches!(p.set, JobSet::Queue(_)) {
            return Ok(0);
        }
        let n = {
            let mut st = self.lock();
            let jobs = st.take(&p.set, &p.selection);
            let n = jobs.len() as u64;
            for job in jobs {
                st.enqueue(job, p.now);
            }
            n
        };
        self.shared.wake.notify_waiters();
        Ok(n)
    }

    async fn job_kill(&self, p: JobActionParams) -> Result<u64, BackendError> {
        if p.set == JobSet::Dead {
            return Ok(0);
        }
        let mut st = self.lock();
        let jobs = st.take(&p.set, &p.selection);
        let n = jobs.len() as u64;
        let mut trimmed = 0;
        for job in jobs {
            trimmed += st.kill(job, p.now, p.dead_limits);
        }
        warn_dead_trimmed("memory", trimmed);
        Ok(n)
    }

    async fn limits_list(&self, p: LimitsListParams) -> Result<Vec<LimitUsage>, BackendError> {
        let now = p.clock.host_time(p.now);
        let used = self.lock().limits_in_use(now);
        Ok(used.into_iter().skip(p.offset).take(p.limit).collect())
    }

    async fn limit_waiting(&self, p: LimitWaitingParams) -> Result<Vec<JobEnvelope>, BackendError> {
        Ok(self.lock().waiting_for(&p.key, p.offset, p.limit))
    }

    async fn limit_waiting_delete(&self, p: LimitWaitingDeleteParams) -> Result<u64, BackendError> {
        Ok(self.lock().delete_waiting(&p.key, &p.jids))
    }

    async fn process_list(&self) -> Result<Vec<ProcessRecord>, BackendError> {
        let st = self.lock();
        let mut list: Vec<ProcessRecord> =
            st.processes.values().map(|p| p.record.clone()).collect();
        list.sort_by(|a, b| a.info.id.cmp(&b.info.id));
        Ok(list)
    }

    async fn process_signal(&self, params: ProcessSignalParams) -> Result<(), BackendError> {
        let (id, signal) = (&params.id, params.signal);
        let mut st = self.lock();
        match st.processes.get_mut(id) {
            Some(p) => {
                p.signals.push(signal);
                Ok(())
            }
            None => Err(BackendError::msg(format!("no live process with id {id}"))),
        }
    }

    async fn stats(&self) -> Result<Stats, BackendError> {
        let st = self.lock();
        Ok(Stats {
            processed: st.processed,
            failed: st.failed,
            dead_trimmed: st.dead_trimmed,
            expired: st.expired,
            enqueued: st.queues.values().map(|q| q.len() as u64).sum(),
            scheduled: st.scheduled.len(),
            retries: st.retry.len(),
            dead: st.dead.len(),
        })
    }

    async fn stats_history(
        &self,
        params: StatsHistoryParams,
    ) -> Result<Vec<DayStats>, BackendError> {
        let st = self.lock();
        Ok(params
            .dates()
            .into_iter()
            .map(|date| {
                let (processed, failed) = st.days.get(&date).copied().unwrap_or((0, 0));
                DayStats {
                    date,
                    processed,
                    failed,
                }
            })
            .collect())
    }

    async fn clear_all(&self) -> Result<(), BackendError> {
        let mut st = self.lock();
        *st = Default::default();
        Ok(())
    }

    async fn facts(&self) -> Result<Vec<(String, String)>, BackendError> {
        let st = self.lock();
        let queued: usize = st.queues.values().map(|q| q.len()).sum();
        let sets = st.scheduled.len() + st.retry.len() + st.dead.len();
        let jobs = queued as u64 + sets + st.leased.len() as u64;
        Ok(vec![("Jobs stored".to_owned(), jobs.to_string())])
    }

    fn schedules(&self) -> Option<&dyn crate::schedule::ScheduleStore> {
        Some(self)
    }
}
