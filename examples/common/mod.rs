//! What the examples' tests share: a simulated dockerd with no plugins on
//! disk, and a function that runs scenario text against it.
//!
//! `drydock run` does the same for scenario files, but it starts the plugins
//! itself (`#@ plugin …`). Here the test registers its own plugin in-process
//! first — no socket, no server: the engine calls the plugin's handlers
//! directly, with the same bytes dockerd would send.
use drydock::run::observed;
use drydock_engine::clock::VirtualClock;
use drydock_engine::daemon::{Engine, EngineConfig};
use drydock_engine::plugins::discovery::PluginRoots;
use drydock_engine::scenario::{parse, Directive, StepKind, Vars};
use drydock_engine::trace::RpcRecord;

/// A fresh simulated dockerd. Discovery looks in an empty directory, so only
/// plugins registered with `engine.registry().register_in_process(…)` exist.
/// The virtual clock makes dockerd's retries and timeouts cost no real time.
pub fn engine() -> Engine {
    let nowhere = std::env::temp_dir().join("drydock-examples-no-plugins");
    Engine::new(EngineConfig {
        roots: PluginRoots {
            sockets_dir: nowhere,
            spec_dirs: vec![],
        },
        clock: VirtualClock::new(),
        seed: 1,
    })
}

/// Runs every step of `scenario` (scenario-file syntax, docs/scenarios.md)
/// and checks its `#>` expectations; panics at the first one that fails.
/// Returns every plugin call made, for assertions in plain Rust.
pub async fn run(engine: &Engine, scenario: &str) -> Vec<RpcRecord> {
    let scenario = parse("inline.scenario", scenario.as_bytes()).expect("scenario syntax");
    let mut vars = Vars::new(); // `$id`-style variables, bound across steps
    let mut all = Vec::new();
    for step in &scenario.steps {
        let outcome = match &step.kind {
            // One docker command: the engine's answer is what the CLI would print.
            StepKind::Action(action) => {
                drydock_engine::docker_cli::docker(engine, &action.command).await
            }
            StepKind::Directive(Directive::User(cn)) => {
                engine.set_user(cn.clone());
                continue;
            }
            StepKind::Directive(Directive::AuthorizationPlugins(names)) => {
                engine.set_authorization_plugins(names.clone());
                continue;
            }
            StepKind::Directive(d) => panic!("{d:?}: use `drydock run` for this directive"),
        };
        // The calls this step caused, in the order the plugins received them.
        let calls = engine.trace().drain();
        if let Err(m) = step.check(&outcome, &observed(&calls), &mut vars) {
            panic!("line {}: `{}`: {}", m.line, step.text, m.message);
        }
        all.extend(calls);
    }
    all
}
