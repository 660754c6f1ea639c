//! Integration tests: one binary driving the compiled `tenantsync` and the real server.

mod apply;
mod credentials;
mod daemon;
mod deploy;
mod doctor;
mod drift;
mod export;
mod fault_proxy;
mod fidelity;
mod harness;
mod lint;
mod manifests;
mod oauth_clients;
mod plan_properties;
mod plan_scenarios;
mod reconcile;
mod review24_manifest;
mod security;
mod server_api;
mod server_robustness;
mod shared_state;
mod terminal;
