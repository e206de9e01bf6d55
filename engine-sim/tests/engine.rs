//! Integration tests of the engine's plugin layer: discovery, client, registry.

mod engine {
    mod client;
    mod discovery;
    mod registry;
    mod sdk_e2e;
    mod util;
}
