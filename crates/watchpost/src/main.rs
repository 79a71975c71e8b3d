//! `watchpost`: security monitoring, detection and alerting in one binary.

mod actions_cmd;
mod actions_follow;
mod agent_cmd;
mod alerts_cmd;
mod alerts_replay;
mod alerts_triage;
mod api_key_cmd;
mod bench;
mod bench_agent;
mod bench_alerts;
mod bench_api;
mod bench_exec;
mod bench_incidents;
mod bench_proxy;
mod cli;
mod config_cmd;
mod db;
mod decisions_follow;
mod eval;
mod eval_host;
mod eval_web;
mod http_read;
mod hunt;
mod incidents_cmd;
mod logging;
mod metrics_cmd;
mod proc_usage;
mod proxy_cmd;
mod rules_cmd;
mod ship_args;

use clap::Parser;
use cli::{
    AgentTokenCommand, AlertsCommand, ApiKeyCommand, BenchCommand, Cli, Command, ConfigCommand,
    DbCommand, EvalCommand, MetricsCommand, RulesCommand,
};
use std::process::ExitCode;

/// Parsing logs and rules allocates many small strings; mimalloc handles that pattern
/// markedly faster than the system allocator (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(&cli.log_level, cli.log_format);
    let runtime = match runtime_for(&cli.command).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The async runtime: one worker per core, unless the proxy is told otherwise.
fn runtime_for(command: &Command) -> tokio::runtime::Builder {
    match command {
        // One thread needs no pool of workers: the proxy runs on the main thread.
        Command::Proxy(args) if args.threads == 1 => tokio::runtime::Builder::new_current_thread(),
        Command::Proxy(args) if args.threads > 1 => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(args.threads);
            builder
        }
        _ => tokio::runtime::Builder::new_multi_thread(),
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => {
            let config = cli::load_config(&cli.config, args.overrides())?;
            watchpost_server::serve(config, watchpost_server::shutdown_signal()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Config {
            command: ConfigCommand::Check,
        } => Ok(config_cmd::check(&cli.config)),
        Command::Config {
            command: ConfigCommand::Show { format },
        } => config_cmd::show(&cli.config, format),
        Command::Db {
            command: DbCommand::Migrate,
        } => db::migrate(&cli.config).await,
        Command::Db {
            command: DbCommand::Stats { json },
        } => db::stats(&cli.config, json).await,
        Command::Hunt(args) => hunt::run(args),
        Command::Proxy(args) => proxy_cmd::run(args).await,
        Command::Agent(args) => agent_cmd::run(args, &cli.config).await,
        Command::AgentToken {
            command: AgentTokenCommand::Create { name, kind },
        } => db::create_sender(&cli.config, &name, &kind).await,
        Command::Alerts {
            command:
                AlertsCommand::List {
                    status,
                    min_severity,
                    host,
                    rule,
                    limit,
                },
        } => {
            let filter = alerts_cmd::ListFilter {
                status,
                min_severity,
                host,
                rule,
            };
            alerts_cmd::list(&cli.config, filter, limit).await
        }
        Command::Alerts {
            command: AlertsCommand::Explain { id, json },
        } => alerts_cmd::explain(&cli.config, &id, json).await,
        Command::Incidents { command } => incidents_cmd::run(&cli.config, &command).await,
        Command::Actions { command } => actions_cmd::run(&cli.config, &command).await,
        Command::Metrics {
            command: MetricsCommand::Series(args),
        } => metrics_cmd::series(&cli.config, &args).await,
        Command::Alerts {
            command: AlertsCommand::Replay(args),
        } => alerts_replay::run(&cli.config, &args).await,
        Command::Alerts {
            command: AlertsCommand::Ack(args),
        } => alerts_triage::triage(&cli.config, "acknowledged", &args).await,
        Command::Alerts {
            command: AlertsCommand::Resolve(args),
        } => alerts_triage::triage(&cli.config, "resolved", &args).await,
        Command::Alerts {
            command: AlertsCommand::Reopen(args),
        } => alerts_triage::triage(&cli.config, "firing", &args).await,
        Command::Alerts {
            command: AlertsCommand::FalsePositive(args),
        } => alerts_triage::triage(&cli.config, "false_positive", &args).await,
        Command::Alerts {
            command: AlertsCommand::Silence { command },
        } => alerts_triage::silence(&cli.config, &command).await,
        Command::AgentToken {
            command: AgentTokenCommand::List,
        } => db::list_senders(&cli.config).await,
        Command::AgentToken {
            command:
                AgentTokenCommand::Rotate {
                    sender,
                    grace_minutes,
                },
        } => db::rotate_sender(&cli.config, &sender, grace_minutes).await,
        Command::AgentToken {
            command: AgentTokenCommand::Revoke { sender },
        } => db::revoke_sender(&cli.config, &sender).await,
        Command::ApiKey {
            command:
                ApiKeyCommand::Create {
                    name,
                    role,
                    expires_in_days,
                },
        } => api_key_cmd::create(&cli.config, &name, &role, expires_in_days).await,
        Command::ApiKey {
            command: ApiKeyCommand::List,
        } => api_key_cmd::list(&cli.config).await,
        Command::ApiKey {
            command: ApiKeyCommand::Revoke { id },
        } => api_key_cmd::revoke(&cli.config, &id).await,
        Command::Rules {
            command:
                RulesCommand::Check {
                    dirs,
                    json,
                    min_coverage,
                    placeholders,
                },
        } => rules_cmd::check(
            &dirs,
            &rules_cmd::parse_placeholders(&placeholders)?,
            json,
            min_coverage,
        ),
        Command::Eval {
            command:
                EvalCommand::SigmaRegression {
                    root,
                    rules,
                    json,
                    min_passed,
                },
        } => eval::sigma_regression(&root, &rules, json, min_passed),
        Command::Eval {
            command:
                EvalCommand::PeerAgreement {
                    corpus,
                    json,
                    min_recall,
                },
        } => eval::peer_agreement(&corpus, json, min_recall),
        Command::Eval {
            command:
                EvalCommand::Lolbas {
                    dir,
                    rules,
                    json,
                    show,
                    min_detected,
                },
        } => eval_host::lolbas::run(
            &dir,
            &eval_host::lolbas::Options {
                rules,
                json,
                show,
                min_detected,
            },
        ),
        Command::Eval {
            command:
                EvalCommand::HostFp {
                    files,
                    json,
                    show,
                    max_flagged,
                },
        } => eval_host::false_positives::run(
            &files,
            &eval_host::false_positives::Options {
                json,
                show,
                max_flagged,
            },
        ),
        Command::Eval {
            command:
                EvalCommand::Gtfobins {
                    dir,
                    rules,
                    json,
                    show,
                    min_function,
                },
        } => eval_host::gtfobins::run(
            &dir,
            &eval_host::gtfobins::Options {
                rules,
                json,
                show,
                min_function,
            },
        ),
        Command::Eval {
            command: EvalCommand::Web(args),
        } => eval_web::run(
            &args.file,
            args.paranoia,
            args.json,
            args.show,
            &eval_web::Floors {
                min_attack: args.min_attack,
                min_category: args.min_category.clone(),
                max_benign: args.max_benign,
            },
        ),
        Command::Bench {
            command: BenchCommand::Ingest(args),
        } => bench::ingest(args).await,
        Command::Bench {
            command: BenchCommand::Proxy(args),
        } => bench_proxy::proxy(args).await,
        Command::Bench {
            command: BenchCommand::Alerts(args),
        } => bench_alerts::alerts(args).await,
        Command::Bench {
            command: BenchCommand::ExecCapture(args),
        } => bench_exec::run(&args),
        Command::Bench {
            command: BenchCommand::Agent(args),
        } => bench_agent::run(&args),
        Command::Bench {
            command: BenchCommand::Api(args),
        } => bench_api::api(args).await,
        Command::Bench {
            command: BenchCommand::Incidents(args),
        } => bench_incidents::incidents(args).await,
        Command::Version => {
            println!("watchpost {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
    }
}
