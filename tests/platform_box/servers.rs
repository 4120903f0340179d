//! Servers a test owns, to stop and start again mid-run: a PostgreSQL
//! cluster (initdb in a temp dir, as the `postgres` user when the tests run
//! as root, as `scripts/test` does) and a nats-server with JetStream on its
//! own store directory. Each keeps its port across a restart, so a client
//! that reconnects finds it again. Killed on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Wait (at most 30 s) until something accepts connections on `port`.
async fn until_listening(what: &str, port: u16) {
    let wait = async {
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .unwrap_or_else(|_| panic!("{what} does not listen on port {port}"));
}

fn run(what: &str, cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A PostgreSQL cluster of one test.
pub struct OwnPostgres {
    _dir: tempfile::TempDir,
    data: PathBuf,
    log: PathBuf,
    bin: PathBuf,
    pub port: u16,
    as_postgres: bool,
}

fn pg_bin() -> PathBuf {
    let listed = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .find(|b| b.join("initdb").exists());
    listed.expect("PostgreSQL's initdb under /usr/lib/postgresql (scripts/test installs it)")
}

impl OwnPostgres {
    pub async fn start() -> OwnPostgres {
        let dir = tempfile::tempdir().unwrap();
        let as_postgres = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        let root = dir.path().join("pg");
        std::fs::create_dir(&root).unwrap();
        if as_postgres {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
            run("chown", Command::new("chown").arg("postgres:").arg(&root));
        }
        let pg = OwnPostgres {
            data: root.join("data"),
            log: root.join("server.log"),
            bin: pg_bin(),
            port: free_port(),
            as_postgres,
            _dir: dir,
        };
        let mut initdb = pg.command("initdb");
        initdb
            .arg("-D")
            .arg(&pg.data)
            .args(["-U", "postgres", "-A", "trust", "--no-sync"]);
        run("initdb", &mut initdb);
        pg.up().await;
        pg
    }

    fn command(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn socket_dir(&self) -> &Path {
        self.data.parent().unwrap()
    }

    /// Start the server (again), on the same port.
    pub async fn up(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.socket_dir().display()
        );
        let mut start = self.command("pg_ctl");
        start
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(&self.log)
            .args(["-w", "-t", "30", "-o", &options, "start"]);
        run("pg_ctl start", &mut start);
        until_listening("postgres", self.port).await;
    }

    /// Stop the server as an operator would (fast: sessions are ended).
    pub fn down(&self) {
        let mut stop = self.command("pg_ctl");
        stop.arg("-D")
            .arg(&self.data)
            .args(["-m", "fast", "-w", "stop"]);
        run("pg_ctl stop", &mut stop);
    }

    /// The superuser's URL.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let mut stop = self.command("pg_ctl");
        stop.arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "stop"]);
        let _ = stop.stdout(Stdio::null()).stderr(Stdio::null()).status();
    }
}

/// A nats-server with JetStream of one test.
pub struct OwnNats {
    dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
}

impl OwnNats {
    pub async fn start() -> OwnNats {
        let mut nats = OwnNats {
            dir: tempfile::tempdir().unwrap(),
            port: free_port(),
            child: None,
        };
        nats.up().await;
        nats
    }

    /// Start the server (again) on the same port and store.
    pub async fn up(&mut self) {
        let child = Command::new("nats-server")
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server on PATH (scripts/test installs it)");
        self.child = Some(child);
        until_listening("nats-server", self.port).await;
    }

    /// Stop the server as an operator would (SIGTERM: it shuts down
    /// cleanly) and wait for it to exit.
    pub fn down(&mut self) {
        if let Some(mut child) = self.child.take() {
            run(
                "kill -TERM",
                Command::new("kill").args(["-TERM", &child.id().to_string()]),
            );
            let _ = child.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for OwnNats {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
