//! drydock's integration tests (one binary, modules inside).

mod it {
    mod golden;
    mod golden_authz;
}
