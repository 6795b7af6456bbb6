//! The `egov` command line as an operator uses it.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn egov(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_egov"))
        .args(args)
        .env_remove("RUST_LOG")
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run egov")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn write(dir: &tempfile::TempDir, name: &str, contents: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, contents).expect("write file");
    path.display().to_string()
}

#[test]
fn every_command_has_help_and_the_version_prints() {
    let version = egov(&["--version"]);
    assert!(version.status.success());
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("egov {}", env!("CARGO_PKG_VERSION"))
    );
    for command in [
        "demo",
        "serve",
        "migrate",
        "check-config",
        "import",
        "gateway",
        "hub",
        "registry",
    ] {
        let help = egov(&[command, "--help"]);
        assert!(help.status.success(), "{command} --help failed");
        assert!(String::from_utf8_lossy(&help.stdout).contains("Usage:"), "{command}");
    }
}

#[test]
fn bad_configuration_stops_with_the_key_named() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let cases = [
        ("unknown.toml", "[server]\nlisten_on = \"127.0.0.1:1\"\n", "listen_on"),
        (
            "type.toml",
            "[database]\nmax_connections = \"many\"\n",
            "database.max_connections",
        ),
        (
            "scheme.toml",
            "[database]\nurl = \"mysql://localhost/egov\"\n",
            "database.url",
        ),
        (
            "unreachable.toml",
            "[database]\nurl = \"postgres://postgres@127.0.0.1:1/egov\"\n[security]\nsecret_key = \"0123456789abcdef0123456789abcdef\"\n",
            "database.url",
        ),
        (
            "nokey.toml",
            "[database]\nurl = \"sqlite::memory:\"\n",
            "security.secret_key",
        ),
    ];
    for (name, contents, key) in cases {
        let path = write(&dir, name, contents);
        let output = egov(&["--config", &path, "check-config"]);
        assert!(!output.status.success(), "{name} was accepted");
        assert!(stderr(&output).contains(key), "{name}: {}", stderr(&output));
    }
}

#[test]
fn environment_variables_override_the_file_and_secrets_never_print() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let db_path = dir.path().join("env.db");
    let path = write(&dir, "egov.toml", "[database]\nurl = \"mysql://ignored\"\n");
    let output = Command::new(env!("CARGO_BIN_EXE_egov"))
        .args(["--config", &path, "check-config"])
        .env("EGOV__DATABASE__URL", format!("sqlite://{}", db_path.display()))
        .env("EGOV__SECURITY__SECRET_KEY", "a-very-secret-key-nobody-may-see-1234")
        .output()
        .expect("run egov");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout.contains("[redacted]"));
    assert!(!stdout.contains("a-very-secret-key"), "{stdout}");
}

#[tokio::test]
async fn importing_a_file_with_bad_rows_names_each_line_and_imports_nothing() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let data = dir.path().to_str().expect("UTF-8 path");
    // The demo province's agencies, as `egov demo` would have seeded them.
    let db = egov_db::Db::connect(&format!("sqlite://{data}/egov.db"), &egov_db::PoolSettings::default())
        .await
        .expect("open SQLite");
    db.migrate().await.expect("migrate");
    egov_onestop::seed::load_demo(&db, chrono::Utc::now())
        .await
        .expect("seed");
    db.close().await;
    let bad = write(
        &dir,
        "bad.csv",
        "code,name_vi,name_en,level,field,fee_vnd,processing_days,online,agency_codes\n\
         9.000001,Một,One,commune,ho_tich,0,1,full,000.00.01.H24\n\
         9.000002,Hai,Two,commune,nowhere,0,1,full,000.00.01.H24\n",
    );
    let output = egov(&["--data", data, "import", "procedures", &bad]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("bad.csv:line 3: field: `nowhere` is not a known field code"),
        "{message}"
    );
    assert!(message.contains("nothing was imported"), "{message}");

    let fixed = write(
        &dir,
        "fixed.csv",
        "code,name_vi,name_en,level,field,fee_vnd,processing_days,online,agency_codes\n\
         9.000001,Một,One,commune,ho_tich,0,1,full,000.00.01.H24\n\
         9.000002,Hai,Two,commune,chung_thuc,2.000,1,partial,000.00.01.H24|000.00.02.H24\n",
    );
    let output = egov(&["--data", data, "import", "procedures", &fixed]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("2 new, 0 updated"));
}

#[test]
fn the_demo_serves_the_catalogue_soon_after_it_starts() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("free port")
        .local_addr()
        .expect("address")
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_egov"))
        .args([
            "demo",
            "--port",
            &port.to_string(),
            "--data",
            dir.path().to_str().expect("UTF-8 path"),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the demo");
    let started = Instant::now();
    let mut body = String::new();
    while started.elapsed() < Duration::from_secs(30) {
        if let Ok(response) = std::net::TcpStream::connect(("127.0.0.1", port)).and_then(|mut stream| {
            use std::io::{Read as _, Write as _};
            stream.write_all(
                b"GET /api/v1/procedures?q=khai+sinh HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            )?;
            let mut text = String::new();
            stream.read_to_string(&mut text)?;
            Ok(text)
        }) {
            body = response;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let output = child.wait_with_output().expect("demo output");
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    assert!(body.contains("1.001193"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains(&format!("http://localhost:{port}/")), "{stdout}");
    assert!(dir.path().join("secret.key").exists());
}

fn egov_with_stdin(args: &[&str], input: &str) -> Output {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_egov"))
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run egov");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("egov finishes")
}

#[test]
fn operators_register_upstreams_and_clients_with_keys_or_pairwise_subjects() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let data = dir.path().to_str().expect("UTF-8 path");
    let upstream = [
        "--data",
        data,
        "id",
        "upstream",
        "add",
        "--id",
        "vneid",
        "--name",
        "VNeID",
        "--issuer",
        "https://vneid.example.gov.vn",
        "--client-id",
        "tinh-kinh-bac",
    ];
    let output = egov_with_stdin(&upstream, "bi-mat-cua-tinh\n");
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("/oauth/upstream/callback"), "{stdout}");
    assert!(!stdout.contains("bi-mat-cua-tinh"), "the secret is never printed");
    let again = egov_with_stdin(&upstream, "bi-mat-cua-tinh\n");
    assert!(!again.status.success());
    assert!(stderr(&again).contains("exists already"), "{}", stderr(&again));

    // A machine client with a public key gets no secret.
    let key = egov_id::keys::SigningKey::generate(egov_id::keys::Algorithm::EdDsa).expect("key");
    let jwks = write(
        &dir,
        "keys.json",
        &serde_json::json!({ "keys": [key.public_jwk()] }).to_string(),
    );
    let output = egov(&[
        "--data",
        data,
        "id",
        "client",
        "add",
        "--client-id",
        "he-thong-thue",
        "--grant-type",
        "client_credentials",
        "--jwks-file",
        &jwks,
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!String::from_utf8_lossy(&output.stdout).contains("client_secret"));

    // A pairwise client on two hosts must name its sector.
    let two_hosts = [
        "--data",
        data,
        "id",
        "client",
        "add",
        "--client-id",
        "ngan-hang",
        "--pairwise",
        "--redirect-uri",
        "https://a.example.vn/cb",
        "--redirect-uri",
        "https://b.example.vn/cb",
    ];
    let output = egov(&two_hosts);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("sector_identifier"), "{}", stderr(&output));
    let output = egov(&[&two_hosts[..], &["--sector-identifier", "example.vn"]].concat());
    assert!(output.status.success(), "{}", stderr(&output));
}
