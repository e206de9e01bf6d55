//! drydock-ipam's integration tests (one binary, modules inside).

mod ipam {
    mod model;
    mod persistence;
}
