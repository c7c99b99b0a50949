//! End-to-end tests: they run the real `movieapp` binary on loopback ports picked by the
//! OS, with real SQLite files in temp directories, and talk to it over real gRPC.

mod access;
mod aggregates;
mod auth;
mod bad_input;
mod bench_load;
mod bench_serialize;
mod book_flow;
mod certs;
mod completions;
mod config;
mod connections;
mod consul;
mod consul_lock;
mod deploy;
mod discovery;
mod feed;
mod gateway;
mod grpc_clients;
mod hardening;
mod health_command;
mod help;
mod http;
mod in_process;
mod lock;
mod metrics;
mod mysql;
mod packaging;
mod profiling;
mod reliability;
mod restart;
mod startup;
mod support;
mod telemetry;
mod tls;
mod uploads;
