//! The jobs the `recurring` and `schedule_check` examples schedule (shared with `#[path]`).

#[derive(Debug, thiserror::Error)]
#[error("report service unavailable")]
pub struct ReportError;

/// Builds and mails last night's report of `kind`.
#[jobs::job(name = "NightlyReport", queue = "reports")]
pub async fn nightly_report(kind: String) -> Result<(), ReportError> {
    println!("  -> nightly {kind} report built");
    Ok(())
}

/// Invoices every customer of `region` for last month (`dry_run`: compute, do not send).
#[jobs::job(name = "MonthlyInvoices", queue = "billing")]
pub async fn monthly_invoices(region: String, dry_run: bool) -> Result<(), ReportError> {
    println!("  -> monthly invoices for {region} (dry run: {dry_run})");
    Ok(())
}
