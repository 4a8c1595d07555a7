//! Certificates for the TLS tests, made with the `openssl` command: a CA, a second unrelated CA,
//! and a server certificate for 127.0.0.1/localhost signed by the first.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};

pub fn missing(tool: &str, what: &str) -> bool {
    let absent = Command::new(tool)
        .arg(if tool == "openssl" {
            "version"
        } else {
            "--version"
        })
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_err();
    if absent {
        skip_or_fail(what);
    }
    absent
}

pub fn skip_or_fail(what: &str) {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{what}, and CI=true");
    }
    eprintln!("notice: {what}; skipping a TLS test (this would fail under CI=true)");
}

pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A self-signed CA (P-256) named `name`: `name.crt`, `name.key`.
pub fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
            "-days",
            "2",
            "-subj",
            &format!("/CN=larq test {name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

/// Write `ca.crt`/`ca.key`, `other.crt`/`other.key` (a CA that signed nothing here) and
/// `server.crt`/`server.key` (SAN IP 127.0.0.1 and localhost, signed by `ca`) into `dir`. The
/// server certificate is also good for client auth: cluster nodes present it to each other on the
/// cluster bus, which always verifies.
pub fn make_certs(dir: &Path) {
    make_ca(dir, "ca");
    make_ca(dir, "other");
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n",
    )
    .expect("write server.ext");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    );
}
