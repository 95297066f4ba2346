//! The in-memory backend's [`ScheduleStore`]: records and tick claims under the one lock.
//!
//! 1. A claim inserts `(name, tick)` into the claims map and pushes the job under the same
//!    lock, so it is atomic; claims older than their `keep` are pruned on each claim.
//! 2. Records keep `enabled`, `last_run` and `next_run`; `next_run` only moves forward.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::MemoryBackend;
use crate::backend::*;

#[async_trait]
impl ScheduleStore for MemoryBackend {
    async fn schedule_list(&self) -> Result<Vec<ScheduleRecord>, BackendError> {
        Ok(self.lock().schedules.values().cloned().collect())
    }

    async fn schedule_get(
        &self,
        params: ScheduleGetParams,
    ) -> Result<Option<ScheduleRecord>, BackendError> {
        let name = params.name.as_str();
        Ok(self.lock().schedules.get(name).cloned())
    }

    async fn schedule_declare(&self, p: DeclareParams) -> Result<ScheduleRecord, BackendError> {
        let mut st = self.lock();
        let record = st
            .schedules
            .entry(p.name.clone())
            .and_modify(|r| {
                r.description = p.description.clone();
                r.job = p.job.clone();
            })
            .or_insert_with(|| ScheduleRecord {
                name: p.name.clone(),
                description: p.description.clone(),
                job: p.job.clone(),
                enabled: true,
                last_run: None,
                next_run: p.next_run,
            });
        Ok(record.clone())
    }

    async fn schedule_advance(&self, params: AdvanceParams) -> Result<(), BackendError> {
        let (name, next_run) = (params.name.as_str(), params.next_run);
        if let Some(r) = self.lock().schedules.get_mut(name) {
            r.next_run = Some(r.next_run.map_or(next_run, |n| n.max(next_run)));
        }
        Ok(())
    }

    async fn schedule_set_enabled(&self, params: EnableParams) -> Result<bool, BackendError> {
        let (name, enabled) = (params.name.as_str(), params.enabled);
        Ok(match self.lock().schedules.get_mut(name) {
            Some(r) => {
                r.enabled = enabled;
                true
            }
            None => false,
        })
    }

    async fn schedule_remove(&self, params: ScheduleRemoveParams) -> Result<bool, BackendError> {
        let name = params.name.as_str();
        Ok(self.lock().schedules.remove(name).is_some())
    }

    async fn schedule_claim(&self, p: ClaimParams) -> Result<bool, BackendError> {
        let expires = chrono::Duration::from_std(p.keep)
            .ok()
            .and_then(|k| p.now.checked_add_signed(k))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        {
            let mut st = self.lock();
            st.claims.retain(|_, until| *until > p.now);
            let key = (p.name.clone(), p.tick.timestamp_micros());
            if st.claims.contains_key(&key) {
                return Ok(false);
            }
            st.claims.insert(key, expires);
            let job = p.queued_job();
            st.enqueue(job, p.now);
            if let Some(r) = st.schedules.get_mut(&p.name) {
                r.last_run = Some(r.last_run.map_or(p.tick, |l| l.max(p.tick)));
            }
        }
        self.shared.wake.notify_waiters();
        Ok(true)
    }
}
