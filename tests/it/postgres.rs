//! A throwaway PostgreSQL server per test: `initdb` and `pg_ctl` in a temp dir, as the
//! unprivileged `nobody` when the tests run as root. It listens on its Unix socket in that
//! directory only (no TCP port to race other processes for); [`Postgres::start_tcp`] adds a
//! loopback port for the tests that need one (a relay in front of it, `host` rules in
//! `pg_hba.conf`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::harness::output_text;

/// A throwaway PostgreSQL server.
pub struct Postgres {
    dir: tempfile::TempDir,
    /// The loopback port, when it listens on one.
    tcp: Option<u16>,
    as_nobody: bool,
}

/// The PostgreSQL server binaries (Debian puts them outside PATH).
fn pg_bin(name: &str) -> PathBuf {
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin").join(name))
        .find(|p| p.exists());
    debian.unwrap_or_else(|| PathBuf::from(name))
}

/// The port of the Unix socket when there is no TCP port (it only names the socket file).
const SOCKET_PORT: u16 = 5432;

impl Postgres {
    /// A server on its Unix socket only.
    pub fn start() -> Self {
        let pg = Self::init(None);
        let started = pg.pg_ctl_start();
        assert!(
            started.status.success(),
            "pg_ctl start: {}",
            output_text(&started)
        );
        pg
    }

    /// A server on its Unix socket and a free loopback port. The port is found by binding
    /// 127.0.0.1:0 and letting it go, so another process may take it first: a start that
    /// fails on an address in use is retried on another port.
    pub fn start_tcp() -> Self {
        let free_port = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        };
        let mut pg = Self::init(Some(free_port()));
        for _ in 0..5 {
            let started = pg.pg_ctl_start();
            if started.status.success() {
                return pg;
            }
            let log = std::fs::read_to_string(pg.dir.path().join("log")).unwrap_or_default();
            assert!(
                log.contains("Address already in use"),
                "pg_ctl start: {}\n{log}",
                output_text(&started)
            );
            pg.tcp = Some(free_port());
        }
        panic!("no free port for PostgreSQL after 5 tries");
    }

    /// `initdb` into a fresh temp dir.
    fn init(tcp: Option<u16>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let as_nobody = rustix::process::geteuid().is_root();
        if as_nobody {
            rustix::fs::chown(dir.path(), Some(nobody_uid()), Some(nobody_gid())).unwrap();
        }
        let pg = Self {
            dir,
            tcp,
            as_nobody,
        };
        let init = pg.run(
            &pg_bin("initdb"),
            &[
                "-D",
                pg.data().to_str().unwrap(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        assert!(
            init.status.success(),
            "initdb (is PostgreSQL installed?): {}",
            output_text(&init)
        );
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn port(&self) -> u16 {
        self.tcp.unwrap_or(SOCKET_PORT)
    }

    /// `pg_ctl start`, waiting until the server accepts connections.
    fn pg_ctl_start(&self) -> Output {
        let listen = match self.tcp {
            Some(_) => "127.0.0.1",
            None => "''",
        };
        let options = format!(
            "-p {} -k {} -c listen_addresses={listen} -c fsync=off",
            self.port(),
            self.dir.path().display()
        );
        let log = self.dir.path().join("log");
        self.run(
            &pg_bin("pg_ctl"),
            &[
                "-D",
                self.data().to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-o",
                &options,
                "-w",
                "start",
            ],
        )
    }

    fn run(&self, program: &Path, args: &[&str]) -> Output {
        let mut cmd = if self.as_nobody {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(program);
            c
        } else {
            Command::new(program)
        };
        cmd.args(args)
            .env("HOME", self.dir.path())
            .output()
            .unwrap()
    }

    /// The URL tenantsync gets: the socket directory as the host (percent-encoded), or the
    /// loopback port when there is one.
    pub fn url(&self) -> String {
        match self.tcp {
            Some(port) => format!("postgres://postgres@127.0.0.1:{port}/postgres?sslmode=disable"),
            None => format!(
                "postgres://postgres@{}:{SOCKET_PORT}/postgres?sslmode=disable",
                self.dir.path().display().to_string().replace('/', "%2F")
            ),
        }
    }

    /// The loopback port (for a server from [`start_tcp`](Self::start_tcp)).
    pub fn tcp_port(&self) -> u16 {
        self.tcp.expect("started with start_tcp")
    }

    /// Runs one SQL statement with psql (over the socket); its output, unaligned.
    pub fn sql(&self, statement: &str) -> String {
        let out = Command::new(pg_bin("psql"))
            .arg("-h")
            .arg(self.dir.path())
            .args([
                "-p",
                &self.port().to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
            ])
            .args(["-X", "-A", "-t", "-c", statement])
            .output()
            .unwrap();
        assert!(out.status.success(), "psql: {}", output_text(&out));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.run(
            &pg_bin("pg_ctl"),
            &[
                "-D",
                self.data().to_str().unwrap(),
                "-m",
                "immediate",
                "stop",
            ],
        );
    }
}

fn nobody_uid() -> rustix::fs::Uid {
    rustix::fs::Uid::from_raw(65534)
}

fn nobody_gid() -> rustix::fs::Gid {
    rustix::fs::Gid::from_raw(65534)
}
