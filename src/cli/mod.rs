//! `wsctl`'s commands. Each command is a function over the parsed flags; output is a table or
//! text on a terminal and JSON with `--json`.

mod branch_cmds;
mod confirm;
mod container_cmds;
mod env_cmd;
mod import_cmds;
mod meta_cmds;
mod migrate_cmds;
mod ops_cmds;
mod print;
mod stack_cmds;
mod target;

use std::path::PathBuf;

use clap::builder::TypedValueParser;
use clap::{Parser, Subcommand};

use crate::stack::state::BackendKind;

/// `wsctl 0.1.0 (<commit>)`: the commit is captured by build.rs ("unknown" outside git).
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("WSCTL_COMMIT"), ")");

#[derive(Parser)]
#[command(
    name = "wsctl",
    version = VERSION,
    about = "Run the Workspace stack: database + Workspace API",
    after_help = "The README's \"wsctl\" section lists each command's output and exit codes."
)]
pub struct Cli {
    /// State directory [env: WSCTL_STATE_DIR] [default: .workspace-stack beside
    /// workspace-stack.toml, or in the current directory]
    #[arg(long, global = true)]
    pub state_dir: Option<PathBuf>,
    /// Refuse to act unless the stack here has this name (its workspace-stack.toml `name`,
    /// else its project directory's name)
    #[arg(long, global = true, env = "WSCTL_STACK")]
    pub stack: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Default, clap::Args)]
pub struct UpArgs {
    /// Stay attached and stop everything on Ctrl-C
    #[arg(long)]
    pub foreground: bool,
    /// PostgreSQL port [default: 5433, or the port used before]
    #[arg(long)]
    pub pg_port: Option<u16>,
    /// Workspace API port [default: 3200, or the port used before]
    #[arg(long)]
    pub api_port: Option<u16>,
    /// Backend [default: postgres]
    #[arg(long, value_enum)]
    pub backend: Option<BackendKind>,
    /// PostgreSQL's bin directory [env: WSCTL_PG_BIN] [default: found on PATH, via pg_config,
    /// or in /usr/lib/postgresql/*/bin]
    #[arg(long)]
    pub pg_bin: Option<PathBuf>,
    /// Neon: one or three safekeepers
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(["1", "3"]).map(|s: String| s.parse::<u8>().expect("1 or 3")))]
    pub safekeepers: Option<u8>,
    /// Neon: directory with bin/ (pageserver, safekeeper, storage_broker, compute_ctl) and
    /// pg_install/ [env: WSCTL_NEON_DIR] [default: found through pageserver on PATH]
    #[arg(long)]
    pub neon_dir: Option<PathBuf>,
    #[command(flatten)]
    pub placement: NeonPlacementArgs,
    /// Seconds to wait for the stack to become healthy
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    /// Run the stack as one compose project (docker compose, docker-compose or podman;
    /// WSCTL_COMPOSE picks one) instead of local processes
    #[arg(long)]
    pub containers: bool,
    /// Requests per client IP per minute that the stack's APIs allow (0: no limit); kept in
    /// state.json for later runs [default: workspace-stack.toml's rate_limit_max, the value
    /// used before, else the API's 120]
    #[arg(long)]
    pub rate_limit_max: Option<u32>,
    /// Do not start the web console
    #[arg(long)]
    pub no_console: bool,
    /// Web console port [default: the port used before, or a free one picked per state directory]
    #[arg(long)]
    pub console_port: Option<u16>,
    /// `auto`: pick free ports for PostgreSQL, the API (and Neon's services) once and keep
    /// them for this stack; --pg-port/--api-port still win [workspace-stack.toml: ports = "auto"]
    #[arg(long, value_parser = ["auto"])]
    pub ports: Option<String>,
    /// Start from nothing: `down --destroy` first (asks unless --yes)
    #[arg(long)]
    pub clean: bool,
    /// With --clean: do not ask
    #[arg(long, requires = "clean")]
    pub yes: bool,
}

/// Neon beyond one machine: S3-compatible remote storage and listen/advertised addresses.
/// Fixed when the stack is created; credentials come from the environment (AWS_ACCESS_KEY_ID
/// and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ...), as Neon reads them.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct NeonPlacementArgs {
    /// Neon: keep the pageserver's remote storage in this S3 bucket instead of a local directory
    #[arg(long, requires = "remote_storage_region")]
    pub remote_storage_bucket: Option<String>,
    /// Neon: the bucket's region
    #[arg(long, requires = "remote_storage_bucket")]
    pub remote_storage_region: Option<String>,
    /// Neon: a prefix in the bucket (the pageserver and safekeepers use <prefix>/pageserver and
    /// <prefix>/safekeeper)
    #[arg(long, requires = "remote_storage_bucket")]
    pub remote_storage_prefix: Option<String>,
    /// Neon: an S3-compatible endpoint URL (MinIO, Ceph, R2, ...) [default: AWS for the region]
    #[arg(long, requires = "remote_storage_bucket")]
    pub remote_storage_endpoint: Option<String>,
    /// Neon: safekeepers offload WAL to the same bucket
    #[arg(long, requires = "remote_storage_bucket")]
    pub wal_offload: bool,
    /// Neon: where broker, safekeepers and pageserver listen: 127.0.0.1 or 0.0.0.0
    #[arg(long)]
    pub listen_host: Option<String>,
    /// Neon: the address other hosts reach this one at (safekeepers' --advertise-pg, the
    /// compute spec, the broker endpoint)
    #[arg(long)]
    pub advertise_host: Option<String>,
}

impl NeonPlacementArgs {
    fn placement(&self) -> crate::runtime::plan::NeonPlacement {
        crate::runtime::plan::NeonPlacement {
            remote_storage: match (&self.remote_storage_bucket, &self.remote_storage_region) {
                (Some(bucket), Some(region)) => Some(crate::stack::neon::S3Storage {
                    bucket_name: bucket.clone(),
                    bucket_region: region.clone(),
                    prefix_in_bucket: self.remote_storage_prefix.clone(),
                    endpoint: self.remote_storage_endpoint.clone(),
                    wal_offload: self.wal_offload,
                }),
                _ => None,
            },
            listen_host: self.listen_host.clone(),
            advertise_host: self.advertise_host.clone(),
        }
    }
}

impl UpArgs {
    fn options(&self) -> crate::engine::up::UpOptions {
        crate::engine::up::UpOptions {
            pg_port: self.pg_port,
            api_port: self.api_port,
            backend: self.backend,
            pg_bin: self.pg_bin.clone(),
            safekeepers: self.safekeepers,
            neon_dir: self.neon_dir.clone(),
            placement: self.placement.placement(),
            containers: self.containers,
            rate_limit_max: self.rate_limit_max,
            ports_auto: self.ports.is_some(),
        }
    }
}

#[derive(Subcommand)]
pub enum Command {
    /// Start the stack (detached unless --foreground) and run the health suite
    Up(UpArgs),
    /// Stop the stack, API first, database last
    Down {
        /// Also delete all data and state (asks first unless --yes)
        #[arg(long)]
        purge: bool,
        /// Delete the stack even when it is broken or half-started: stop what runs, stop a
        /// PostgreSQL left behind, remove containers, volumes, data and state (asks unless --yes)
        #[arg(long, conflicts_with = "purge")]
        destroy: bool,
        /// Stop every stack of this user on this machine (see `wsctl ls`)
        #[arg(long, conflicts_with_all = ["purge", "destroy"])]
        all: bool,
        /// Do not ask
        #[arg(long)]
        yes: bool,
    },
    /// List every stack of this user on this machine: name, directory, backend, runtime,
    /// running or not, URLs
    Ls {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Show the stack's processes, restarts and URLs
    Status {
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Print a service's log (all logs without SERVICE), each line as `name | line`
    Logs {
        /// The service (postgres, workspace-api, supervisor, ...; see `wsctl status`)
        service: Option<String>,
        /// Keep printing as the logs grow (starts from the last 10 lines unless --tail)
        #[arg(long, short)]
        follow: bool,
        /// Only the last N lines of each log
        #[arg(long, short = 'n', value_name = "N")]
        tail: Option<usize>,
        /// Only lines since a time: 90s, 10m, 2h, 1d, or RFC 3339
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
        /// The API's and supervisor's JSON lines as written
        #[arg(long)]
        json: bool,
    },
    /// Apply pending schema migrations (to the stack's database, or --database-url)
    Init {
        /// Migrate this database instead of the stack's (postgres://USER:PASSWORD@HOST:PORT/DB)
        #[arg(long)]
        database_url: Option<String>,
        /// Migrate a database that is not on this machine (refused otherwise)
        #[arg(long)]
        remote_ok: bool,
    },
    /// Open psql on the stack's database (extra arguments go to psql)
    Psql {
        /// A branch's database instead of the stack's
        #[arg(long)]
        branch: Option<String>,
        /// Passed to psql as they are (e.g. -c 'SELECT 1')
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Print the stack's connection string (or the API's URL with --api)
    Url {
        /// Print the Workspace API's URL instead
        #[arg(long)]
        api: bool,
        /// A branch's connection string (with --api: its preview API's URL)
        #[arg(long)]
        branch: Option<String>,
    },
    /// Print DATABASE_URL, PGPASSFILE and WORKSPACE_API_URL for `eval "$(wsctl env)"` or a
    /// .env file (no password unless --with-password)
    Env(EnvArgs),
    /// Run the health suite
    Test {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Database branches (copies of a branch's data)
    #[command(subcommand)]
    Branch(BranchCmd),
    /// Snapshots of main, for rollback
    #[command(subcommand)]
    Snapshot(SnapshotCmd),
    /// Restore main to a snapshot (default: the newest automatic one); the state before is
    /// kept as a snapshot, so a rollback can be undone
    Rollback {
        /// The snapshot to restore [default: the newest automatic snapshot of main]
        #[arg(long)]
        to: Option<String>,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Apply pending migrations safely: snapshot main first, roll back automatically on
    /// failure (nothing pending: nothing is done, no snapshot taken)
    Migrate {
        /// Only try them on a throwaway branch; main is not touched
        #[arg(long)]
        check: bool,
        #[command(subcommand)]
        cmd: Option<MigrateCmd>,
    },
    /// Import an older Workspace database (PostgreSQL or TimescaleDB layout) into a new
    /// branch, verify every table, and with --cutover make it main
    Import(ImportArgs),
    /// Print the web console's URL (it carries the stack's token; keep it private)
    Console {
        /// Also open it in a browser
        #[arg(long)]
        open: bool,
        /// Serve the console in this process (what `up` runs as the `console` service; by
        /// hand for a compose stack)
        #[arg(long)]
        serve: bool,
        /// With --serve: the port (the supervisor passes its own) [default: state.json's, or a
        /// free one]
        #[arg(long, requires = "serve", hide = true)]
        port: Option<u16>,
    },
    /// Diagnose the stack: stale files, busy ports, a postmaster left behind, permissions,
    /// disk space, schema version, binaries, the container engine; each with its fix
    Doctor {
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
        /// Repair what is safe to repair (stale pid/status files, half-written state files, a
        /// postmaster of this data directory left running, data directory mode) and nothing else
        #[arg(long)]
        fix: bool,
    },
    /// Delete expired branches and prune automatic snapshots (run by the supervisor)
    #[command(hide = true)]
    Sweep,
    /// Run the supervisor in this process (used by `up`)
    #[command(hide = true)]
    Supervise,
    /// Serve the Workspace API from this binary (used when workspace-api is not installed
    /// next to wsctl, e.g. after `cargo run --bin wsctl`)
    #[command(hide = true)]
    Api(crate::config::ApiArgs),
    /// Answer the pageserver's control-plane upcalls (the compose project's `upcall` service);
    /// every caller must send the token in WSCTL_UPCALL_TOKEN
    #[command(hide = true)]
    Upcalls(container_cmds::UpcallArgs),
    /// Print a shell completion script: `wsctl completions bash > /etc/bash_completion.d/wsctl`
    Completions {
        /// The shell to complete for
        shell: clap_complete::Shell,
    },
    /// Print wsctl's man page (roff): `wsctl man | man -l -`
    Man,
}

#[derive(clap::Args)]
pub struct EnvArgs {
    /// Put the password into DATABASE_URL (it then lands wherever the output goes: shell
    /// history, .env files); without it, PGPASSFILE points at a private file libpq reads
    #[arg(long)]
    pub with_password: bool,
    /// Prefix each line with `export ` (for `eval` in a shell whose children need them)
    #[arg(long)]
    pub export: bool,
}

#[derive(clap::Args)]
pub struct ImportArgs {
    /// Print the report as JSON on stdout (exit_code, report_path, report) instead of text
    #[arg(long)]
    pub json: bool,
    /// The source: postgres://USER:PASSWORD@HOST:PORT/DATABASE (only ever read)
    #[arg(long, env = "WSCTL_IMPORT_FROM", hide_env_values = true)]
    pub from: String,
    /// Import and verify into a branch, then delete it and say what --cutover would do
    #[arg(long, conflicts_with = "cutover")]
    pub dry_run: bool,
    /// When verification passes, make the import main (an automatic snapshot is taken first,
    /// so `wsctl rollback` undoes it)
    #[arg(long)]
    pub cutover: bool,
    /// Where the source's pg_dump goes [default: backups/ in the state directory]
    #[arg(long)]
    pub backup_dir: Option<PathBuf>,
    /// Skip the backup of the source
    #[arg(long)]
    pub no_backup: bool,
    /// Where the JSON report goes [default: imports/ in the state directory]
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Rows per COPY batch (memory holds at most four batches)
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000).map(|v| v as usize))]
    pub batch_rows: usize,
    /// Write the import even when its target is not on this machine (refused otherwise)
    #[arg(long)]
    pub remote_ok: bool,
    /// The source schema that holds workspace_items [default: `workspace` if it has it, else
    /// the one schema that does]
    #[arg(long, value_name = "NAME")]
    pub schema: Option<String>,
}

#[derive(Subcommand)]
pub enum BranchCmd {
    /// Create NAME as a copy of --from (default main)
    Create {
        /// The new branch: 1-40 lowercase letters, digits and hyphens
        name: String,
        /// The branch to copy
        #[arg(long, default_value = "main")]
        from: String,
        /// Point in time (LSN or timestamp); neon backend only
        #[arg(long)]
        at: Option<String>,
        /// Also run an API instance for the branch on its own port (a preview environment)
        #[arg(long)]
        api: bool,
        #[command(flatten)]
        life: LifeArgs,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// List main and the branches (snapshots: `wsctl snapshot list`)
    List {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Delete a branch (and its preview API); asks first unless --yes
    Delete {
        /// The branch to delete
        name: String,
        /// Delete it even though it is protected
        #[arg(long)]
        force: bool,
        /// Do not ask (needed when stdin is not a terminal): the branch cannot be undeleted
        #[arg(long)]
        yes: bool,
    },
    /// Schema differences of branch A against B (default: A's parent)
    Diff {
        /// The branch whose schema is compared
        a: String,
        /// The branch it is compared against [default: A's parent]
        b: Option<String>,
        /// Print JSON instead of text
        #[arg(long, conflicts_with = "sql")]
        json: bool,
        /// Print a migration that turns B's schema into A's
        #[arg(long)]
        sql: bool,
    },
    /// Protect a branch: deleting it (or letting it expire) needs --force
    Protect {
        /// The branch to protect
        name: String,
        /// Protect it even though it is set to expire (it still expires)
        #[arg(long)]
        force: bool,
    },
    /// Remove a branch's protection
    Unprotect {
        /// The branch to unprotect
        name: String,
    },
    /// What happened to branches and snapshots (created, protected, expired, pruned, ...)
    History {
        /// Only this branch or snapshot [default: all]
        name: Option<String>,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Make the stack's API serve NAME (restarts the API)
    Switch {
        /// The branch to serve (main to go back)
        name: String,
    },
    /// Make a verified import branch main without importing again (main is snapshotted first;
    /// `wsctl rollback` undoes it)
    Promote {
        /// The import branch (import-<time>) a plain `wsctl import` left
        name: String,
    },
}

#[derive(Subcommand)]
pub enum SnapshotCmd {
    /// Take a snapshot of main (`wsctl rollback --to NAME` restores it)
    Create {
        /// The snapshot's name [default: snap-<time>]
        name: Option<String>,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// List the snapshots, oldest first
    List {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Delete a snapshot; asks first unless --yes
    Delete {
        /// The snapshot to delete
        name: String,
        /// Delete it even though it is protected
        #[arg(long)]
        force: bool,
        /// Do not ask (needed when stdin is not a terminal): the snapshot cannot be undeleted
        #[arg(long)]
        yes: bool,
    },
    /// Protect a snapshot: deleting it needs --force, and pruning never takes it
    Protect {
        /// The snapshot to protect
        name: String,
    },
    /// Remove a snapshot's protection
    Unprotect {
        /// The snapshot to unprotect
        name: String,
    },
    /// Delete automatic snapshots beyond the newest N (snapshot_retention in
    /// workspace-stack.toml, default 10); never the newest one, which `wsctl rollback` restores
    Prune {
        /// How many automatic snapshots to keep [default: snapshot_retention, else 10]
        #[arg(long)]
        keep: Option<usize>,
    },
}

/// `branch create`'s protection and expiry.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct LifeArgs {
    /// Protect the branch: deleting it needs --force
    #[arg(long)]
    pub protect: bool,
    /// Delete the branch (with its compute and preview API) after this long: 30m, 2h, 7d
    #[arg(long, conflicts_with = "expires_at")]
    pub ttl: Option<String>,
    /// Delete the branch at this time (RFC 3339, e.g. 2026-12-01T18:00:00Z; UTC without an offset)
    #[arg(long)]
    pub expires_at: Option<String>,
    /// With --protect and an expiry: let the protected branch expire
    #[arg(long)]
    pub force: bool,
}

#[derive(Subcommand)]
pub enum MigrateCmd {
    /// Applied and pending migrations with their checksums; exits 1 when any is pending
    Status {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Create the next migration file, NNNN_NAME.sql, in src/db/migrations/
    New {
        /// What the migration does, e.g. add_due_dates
        name: String,
        /// The migrations directory of the workspace-stack checkout
        #[arg(long, default_value = "src/db/migrations")]
        dir: PathBuf,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    // These need no stack (and no state directory).
    match &cli.command {
        Command::Completions { shell } => return Ok(meta_cmds::completions(*shell)),
        Command::Man => return meta_cmds::man(),
        _ => {}
    }
    let dir = crate::stack::state::StateDir::resolve(cli.state_dir.as_deref())?;
    if let Some(want) = cli.stack.as_deref() {
        crate::engine::target::check(&dir, want)?;
    }
    target::announce(&dir, &cli.command);
    match cli.command {
        Command::Up(args) if args.clean => {
            if ops_cmds::destroy(&dir, args.yes).await? != 0 {
                return Ok(1);
            }
            stack_cmds::up(&dir, args).await
        }
        Command::Up(args) => stack_cmds::up(&dir, args).await,
        Command::Down {
            destroy: true, yes, ..
        } => ops_cmds::destroy(&dir, yes).await,
        Command::Down { all: true, .. } => ops_cmds::down_all().await,
        Command::Ls { json } => ops_cmds::ls(json),
        Command::Down { purge, yes, .. } => stack_cmds::down(&dir, purge, yes).await,
        Command::Status { json } => stack_cmds::status(&dir, json).await,
        Command::Logs {
            service,
            follow,
            tail,
            since,
            json,
        } => stack_cmds::logs(&dir, service, follow, tail, since, json).await,
        Command::Init {
            database_url,
            remote_ok,
        } => stack_cmds::init(&dir, database_url, remote_ok).await,
        Command::Psql { args, branch } => stack_cmds::psql(&dir, args, branch).await,
        Command::Url { api, branch } => stack_cmds::url(&dir, api, branch).await,
        Command::Test { json } => stack_cmds::test(&dir, json).await,
        Command::Supervise => stack_cmds::supervise(&dir).await,
        Command::Console { open, serve, port } => {
            stack_cmds::console(&dir, open, serve.then_some(port)).await
        }
        Command::Doctor { json, fix } => ops_cmds::doctor(&dir, json, fix).await,
        Command::Sweep => ops_cmds::sweep(&dir).await,
        Command::Import(args) => import_cmds::import(&dir, args).await,
        Command::Branch(cmd) => branch_cmds::branch(&dir, cmd).await,
        Command::Snapshot(cmd) => branch_cmds::snapshot(&dir, cmd).await,
        Command::Rollback { to, json } => branch_cmds::rollback(&dir, to, json).await,
        Command::Migrate { check, cmd } => migrate_cmds::migrate(&dir, check, cmd).await,
        Command::Env(args) => env_cmd::env(&dir, &args),
        Command::Api(args) => {
            let settings = crate::config::ApiSettings::from_env(&args)?;
            crate::telemetry::init(settings.log_format);
            crate::api::Application::build(settings)?
                .run_until_stopped()
                .await?;
            Ok(0)
        }
        Command::Upcalls(args) => container_cmds::upcalls(args).await,
        // Answered above, before the state directory is resolved.
        Command::Completions { .. } | Command::Man => Ok(0),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every visible command, argument and flag says what it does in `--help`.
    #[test]
    fn every_command_flag_and_argument_has_a_description() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for sub in cmd.get_subcommands().filter(|c| !c.is_hide_set()) {
                let here = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() && sub.get_name() != "help" {
                    missing.push(here.clone());
                }
                walk(sub, &here, missing);
            }
            for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
                if arg.get_help().is_none() && !["help", "version"].contains(&arg.get_id().as_str())
                {
                    missing.push(format!("{path} <{}>", arg.get_id()));
                }
            }
        }
        let mut missing = Vec::new();
        walk(&super::Cli::command(), "wsctl", &mut missing);
        assert!(missing.is_empty(), "no description: {missing:#?}");
    }
}
