//! `#@ fault …` in a run: per-request faults go to the engine's fault layer
//! (`drydock_engine::plugins::fault`); killing a plugin, stale and late sockets need
//! the runner, which started the plugins and owns their directories.
//!
//! dockerd sets no timeout on authz, IPAM and network calls, so a plugin that
//! never answers hangs the request for good. The runner cannot hang with it:
//! it bounds every step by [`HANG_LIMIT`] of engine time and reports the
//! calls still waiting as "dockerd would hang here".

use crate::run::launch::Launcher;
use drydock_engine::clock::{self, Clock};
use drydock_engine::daemon::Engine;
use drydock_engine::plugins::fault::InFlight;
use drydock_engine::scenario::{FaultDirective, Outcome};
use drydock_engine::trace::RpcRecord;
use std::future::Future;
use std::time::Duration;

/// How much engine time a step may take before the runner gives up on it.
/// Longer than anything dockerd waits for by itself (2 min volume timeouts,
/// ≈15 s of retries per plugin), so only a call dockerd would wait on forever
/// reaches it.
pub const HANG_LIMIT: Duration = Duration::from_secs(3600);

/// How the outcome of a step given up at [`HANG_LIMIT`] starts.
pub const HANG_PREFIX: &str = "dockerd would hang here";

/// How much real time a step may take. Engine time is virtual, but a plugin
/// that really never answers (a deadlocked program behind a socket) would
/// still hold the runner for ever; this bounds that.
pub const REAL_LIMIT: Duration = Duration::from_secs(120);

/// Applies one `#@ fault` directive.
pub async fn apply(
    fault: &FaultDirective,
    engine: &Engine,
    launcher: &mut Launcher,
) -> anyhow::Result<()> {
    let faults = engine.registry().faults();
    let now = engine.registry().clock().elapsed();
    match fault {
        FaultDirective::Call(rule) => faults.add(rule.clone()),
        FaultDirective::Clear(plugin) => faults.clear(plugin.as_deref()),
        FaultDirective::Kill { plugin, back_after } => {
            launcher.kill(plugin).await?;
            // What Go says when it dials a socket nobody listens on. The
            // engine may have cached an in-process transport or a unix one;
            // either way dockerd would be dialling this path.
            let refused = refused_text(launcher, plugin);
            match back_after {
                None => faults.refuse(plugin, None, refused),
                Some(after) => {
                    // Running again at once, but unreachable until then.
                    faults.refuse(plugin, Some(now + *after), refused);
                    launcher.restart(plugin, engine.registry()).await?;
                }
            }
        }
        FaultDirective::StaleSocket(plugin) => launcher.stale_socket(plugin)?,
        FaultDirective::Late { plugin, after } => faults.hide(plugin, now + *after),
        FaultDirective::Sleep(d) => engine.registry().clock().sleep(*d).await,
    }
    Ok(())
}

/// Tells the fault layer how a refused dial of plugin `name` reads, for
/// `crash` faults (called for every plugin the runner starts).
pub fn plugin_started(engine: &Engine, launcher: &Launcher, name: &str) {
    engine
        .registry()
        .faults()
        .set_dial_refused(name, refused_text(launcher, name));
}

fn refused_text(launcher: &Launcher, name: &str) -> String {
    format!(
        "dial unix {}: connect: connection refused",
        launcher.socket_path(name).display()
    )
}

/// Ends a refusal set by `#@ fault NAME kill` when `#@ restart-plugin NAME`
/// brings the plugin back.
pub fn plugin_restarted(engine: &Engine, plugin: &str) {
    engine.registry().faults().allow(plugin);
}

/// Runs one step bounded by [`HANG_LIMIT`] of engine time. If the limit
/// passes, the outcome says which calls dockerd would still be waiting on,
/// and each of them is added to the trace with no answer.
pub async fn bounded<F>(engine: &Engine, step: F) -> Outcome
where
    F: Future<Output = Outcome>,
{
    let clock: &dyn Clock = &**engine.registry().clock();
    let mut step = std::pin::pin!(step);
    let bounded = clock::timeout(clock, HANG_LIMIT, step.as_mut());
    let Ok(result) = tokio::time::timeout(REAL_LIMIT, bounded).await else {
        return Outcome::failed(format!(
            "{HANG_PREFIX}: the step did not finish within {} of real time (a plugin is not answering)",
            fmt_duration(REAL_LIMIT)
        ));
    };
    match result {
        Ok(outcome) => outcome,
        Err(_) => {
            // Read the waiting calls before the step is dropped (which
            // cancels them).
            let waiting = engine.registry().faults().in_flight();
            let now = clock.elapsed();
            for w in &waiting {
                engine.trace().record(unanswered(w, now));
            }
            Outcome::failed(hang_message(&waiting))
        }
    }
}

fn unanswered(w: &InFlight, now: Duration) -> RpcRecord {
    RpcRecord {
        plugin: w.plugin.clone(),
        method: w.method.clone(),
        request: w.request.clone(),
        response: None,
        status: None,
        error: Some(format!(
            "no answer after {} ({HANG_PREFIX})",
            fmt_duration(now.saturating_sub(w.since))
        )),
        micros: 0,
        clock_micros: now.saturating_sub(w.since).as_micros() as u64,
        attempts: 1,
        empty_body_retry: false,
    }
}

fn hang_message(waiting: &[InFlight]) -> String {
    let calls: Vec<String> = waiting
        .iter()
        .map(|w| format!("{} {}", w.plugin, w.method))
        .collect();
    if calls.is_empty() {
        format!(
            "{HANG_PREFIX}: the step did not finish within {} of engine time",
            fmt_duration(HANG_LIMIT)
        )
    } else {
        format!(
            "{HANG_PREFIX}: no answer from {} within {} of engine time, and dockerd 20.10 sets no timeout on this call",
            calls.join(", "),
            fmt_duration(HANG_LIMIT)
        )
    }
}

/// A duration the way Go prints `time.Duration`: `15s`, `2m0s`, `1h0m0s`,
/// `1.5s`, `250ms`.
pub fn fmt_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = d.as_secs();
    let frac = d.subsec_millis();
    let s = if frac == 0 {
        format!("{}s", secs % 60)
    } else {
        let text = format!("{}.{:03}", secs % 60, frac);
        format!("{}s", text.trim_end_matches('0'))
    };
    match (secs / 3600, (secs / 60) % 60) {
        (0, 0) => s,
        (0, m) => format!("{m}m{s}"),
        (h, m) => format!("{h}h{m}m{s}"),
    }
}

#[cfg(test)]
mod tests {
    use super::fmt_duration;
    use std::time::Duration;

    #[test]
    fn durations_print_as_go_prints_them() {
        for (d, text) in [
            (Duration::from_millis(250), "250ms"),
            (Duration::from_secs(15), "15s"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_secs(120), "2m0s"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_secs(3600), "1h0m0s"),
        ] {
            assert_eq!(fmt_duration(d), text);
        }
    }
}
