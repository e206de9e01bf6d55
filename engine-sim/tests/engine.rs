//! Integration tests of the engine's plugin layer: discovery, client, registry.

mod engine {
    mod authz;
    mod client;
    mod discovery;
    mod faults;
    mod registry;
    mod sdk_e2e;
    mod util;
}
