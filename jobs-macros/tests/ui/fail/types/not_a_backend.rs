//! A value that is not a backend given to the client or the dashboard: the error names the
//! backends there are.

use std::sync::Arc;

use jobs::backend::AdminBackend;
use jobs::Client;

struct Settings {
    url: String,
}

fn main() {
    let client = Client::new(Arc::new(Settings { url: "redis://".into() }));
    let admin: Arc<dyn AdminBackend> = Arc::new(Settings { url: "redis://".into() });
    let _ = (client, admin);
}
