//! drydock-ipam's integration tests (one binary, modules inside).

mod ipam {
    mod groupcommit;
    mod model;
    mod persistence;
}
