//! drydock's integration tests (one binary, modules inside).

mod it {
    mod conformance;
    mod golden;
    mod golden_ipam;
    mod golden_authz;
}
