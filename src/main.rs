//! The `confkeep` binary: parse the command line, start logging, dispatch.
//!
//! Configuration errors end the process here with a clear message; each
//! subcommand lives in `confkeep::cli`.

use clap::{Parser, Subcommand};
use confkeep::cli;

#[derive(Debug, Parser)]
#[command(
    name = "confkeep",
    version,
    about = "Auditable configuration backups for MikroTik RouterOS fleets"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon: back up the inventory's devices on schedule.
    Run(cli::run::Args),
    /// A simulated fleet, the embedded log and live status: no servers needed.
    Demo(cli::demo::Args),
    /// Status of every device, or one, from the log.
    Status(cli::status::Args),
    /// The audit trail of one device.
    History(cli::history::Args),
    /// Differences between two snapshots of a device.
    Diff(cli::diff::Args),
    /// Remove old snapshot files (retention); --dry-run says what would go.
    Gc(cli::gc::Args),
    /// Ask for a backup of one device now.
    Trigger(cli::trigger::Args),
    /// Tell confkeep a blocked device's credentials were fixed.
    CredentialsUpdated(cli::credentials_updated::Args),
    /// Seal a login as the platform stores it.
    Credentials(cli::platform_db::CredentialsArgs),
    /// The platform's inventory tables, for operators without the platform.
    Db(cli::platform_db::DbArgs),
    /// Accept or reset a device's trusted host key.
    HostKey(cli::host_key::Args),
    /// One backup of one router to stdout, to check it can be reached.
    Collect(cli::collect::Args),
    /// Print a RouterOS export normalized, or its SHA-256.
    Normalize(cli::normalize::Args),
    /// Fold the whole log through the machine; --verify compares decisions.
    Replay(cli::replay::Args),
    /// Run a deterministic fleet simulation scenario.
    Simulate(cli::simulate::Args),
    /// Serve a simulated RouterOS fleet over SSH.
    SimDevices(cli::sim_devices::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let quiet = matches!(cli.command, Command::Demo(_) | Command::Simulate(_));
    cli::logging::init(if quiet { "warn" } else { "info" });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("confkeep: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Run(args) => cli::run::run(args).await,
            Command::Demo(args) => cli::demo::run(args).await,
            Command::Status(args) => cli::status::run(args).await,
            Command::History(args) => cli::history::run(args).await,
            Command::Diff(args) => cli::diff::run(args).await,
            Command::Gc(args) => cli::gc::run(args).await,
            Command::Trigger(args) => cli::trigger::run(args).await,
            Command::CredentialsUpdated(args) => cli::credentials_updated::run(args).await,
            Command::Credentials(args) => cli::platform_db::credentials(args).await,
            Command::Db(args) => cli::platform_db::db(args).await,
            Command::HostKey(args) => cli::host_key::run(args).await,
            Command::Collect(args) => cli::collect::run(args).await,
            Command::Normalize(args) => cli::normalize::run(args).await,
            Command::Replay(args) => cli::replay::run(args).await,
            Command::Simulate(args) => cli::simulate::run(args).await,
            Command::SimDevices(args) => cli::sim_devices::run(args).await,
        }
    });
    match result {
        Ok(code) => std::process::ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("confkeep: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}
