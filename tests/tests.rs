//! drydock's integration tests (one binary, modules inside).

mod it {
    mod api_router;
    mod authz_plugin;
    mod bench;
    mod cli_oracle;
    mod conformance;
    mod conformance_faults;
    mod diagram;
    mod docs;
    mod external;
    mod fuzz;
    mod golden;
    mod golden_authz;
    mod golden_ipam;
    mod hardening;
    mod late_plugin;
    mod layering;
    mod pytest_example;
    mod record;
    mod run_stream;
    mod scenarios;
    mod serve;
    mod shard;
    mod swagger;
}
