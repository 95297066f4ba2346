//! The in-memory backend with hooks before reserve, finish and heartbeat, for tests that make the store
//! fail or wait at those points; every other call goes straight through.

use jobs::backend::*;
use jobs::memory::MemoryBackend;

/// What runs before a reserve or a finish reaches the store; an error is returned instead.
#[jobs::__private::async_trait]
pub trait Hooks: Send + Sync + 'static {
    async fn before_reserve(&self) -> Result<(), BackendError> {
        Ok(())
    }
    async fn before_finish(&self, _p: &FinishParams) -> Result<(), BackendError> {
        Ok(())
    }
    async fn before_heartbeat(&self) -> Result<(), BackendError> {
        Ok(())
    }
}

/// A [`MemoryBackend`] behind [`Hooks`].
pub struct Hooked<H> {
    pub inner: MemoryBackend,
    pub hooks: H,
}

impl<H> Hooked<H> {
    pub fn new(hooks: H) -> Self {
        Hooked {
            inner: MemoryBackend::new(),
            hooks,
        }
    }
}

#[jobs::__private::async_trait]
impl<H: Hooks> Backend for Hooked<H> {
    fn name(&self) -> &'static str {
        "hooked"
    }
    async fn job_push(&self, p: PushParams) -> Result<PushReport, BackendError> {
        self.inner.job_push(p).await
    }
    async fn job_reserve(&self, p: ReserveParams) -> Result<Vec<Reserved>, BackendError> {
        self.hooks.before_reserve().await?;
        self.inner.job_reserve(p).await
    }
    async fn job_finish(&self, p: FinishParams) -> Result<FinishReport, BackendError> {
        self.hooks.before_finish(&p).await?;
        self.inner.job_finish(p).await
    }
    async fn job_requeue(&self, p: RequeueParams) -> Result<(), BackendError> {
        self.inner.job_requeue(p).await
    }
    async fn process_heartbeat(&self, p: HeartbeatParams) -> Result<HeartbeatReply, BackendError> {
        self.hooks.before_heartbeat().await?;
        self.inner.process_heartbeat(p).await
    }
    async fn process_remove(&self, params: ProcessRemoveParams) -> Result<(), BackendError> {
        self.inner.process_remove(params).await
    }
    async fn scheduled_promote(&self, p: PromoteParams) -> Result<u64, BackendError> {
        self.inner.scheduled_promote(p).await
    }
    async fn lease_rescue(&self, p: RescueParams) -> Result<u64, BackendError> {
        self.inner.lease_rescue(p).await
    }

    async fn priority_age(&self, p: jobs::backend::AgeParams) -> Result<u64, BackendError> {
        self.inner.priority_age(p).await
    }

    async fn rate_acquire(
        &self,
        p: jobs::backend::RateAcquireParams,
    ) -> Result<jobs::backend::RateDecision, BackendError> {
        self.inner.rate_acquire(p).await
    }
}
