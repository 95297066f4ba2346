//! A closure given as client middleware: the error says to implement the trait.

use std::sync::Arc;

use jobs::envelope::JobEnvelope;
use jobs::Client;

fn main() {
    let client = Client::builder(Arc::new(jobs::memory::MemoryBackend::new()))
        .middleware(|job: &mut JobEnvelope| job.queue.is_empty())
        .build();
    let _ = client;
}
