//! The stop signals a long-running command ends on: SIGTERM and SIGINT (Ctrl-C). `serve`
//! shuts down on them; `consume --group` leaves its group on them. Not here: what stopping
//! means for each.

use std::future::Future;

/// Completes on the first SIGTERM or SIGINT. The handlers are installed when this is called
/// (not when the future is first polled), so a signal that arrives meanwhile is not lost to the
/// default action. Call it inside the runtime, before the work it stops starts.
pub fn shutdown_signal() -> impl Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    async move {
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM/SIGINT; only Ctrl-C stops");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}
