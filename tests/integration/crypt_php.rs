//! Laravel's real Encrypter and ours read each other's envelopes (both ciphers, both directions),
//! on Laravel 8, 10 and 13.

use crate::support::laravel::{laravel_tests, run_php_for};

use larq::crypt::{Cipher, Encrypter};

const KEY: &str = "base64:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const COMMAND: &[u8] =
    r#"O:16:"App\Jobs\SomeJob":2:{s:6:"userId";i:7;s:9:"someParam";s:4:"h/é";}"#.as_bytes();

const SCRIPT: &str = r#"<?php
require '/usr/share/php/Illuminate/autoload.php';
$key = base64_decode(substr($argv[1], 7));
$mode = $argv[2];
if ($mode === 'encrypt') {
    foreach (['AES-256-CBC', 'AES-256-GCM'] as $c) {
        // encrypt() serializes the already serialized command, as ShouldBeEncrypted does.
        echo (new Illuminate\Encryption\Encrypter($key, $c))->encrypt(base64_decode($argv[3])), "\n";
    }
} else {
    $e = new Illuminate\Encryption\Encrypter($key, $argv[4]);
    echo base64_encode($e->decrypt($argv[3])), "\n";
}
"#;

laravel_tests!(sync laravel_encrypts_larq_decrypts => encrypts_larq_decrypts; 8 10 13);

fn encrypts_larq_decrypts(major: u8) {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(COMMAND);
    let Some(out) = run_php_for(major, SCRIPT, &[KEY, "encrypt", &b64]) else {
        return;
    };
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2);
    for (line, cipher) in lines.iter().zip([Cipher::Aes256Cbc, Cipher::Aes256Gcm]) {
        let e = Encrypter::new(KEY, "", Some(cipher)).unwrap();
        assert_eq!(e.decrypt_command(line).unwrap(), COMMAND, "{cipher:?}");
    }
}

laravel_tests!(sync larq_encrypts_laravel_decrypts => larq_encrypts_decrypts; 8 10 13);

fn larq_encrypts_decrypts(major: u8) {
    use base64::Engine as _;
    for (cipher, name) in [
        (Cipher::Aes256Cbc, "AES-256-CBC"),
        (Cipher::Aes256Gcm, "AES-256-GCM"),
    ] {
        let sealed = Encrypter::new(KEY, "", Some(cipher))
            .unwrap()
            .encrypt_command(COMMAND)
            .unwrap();
        let Some(out) = run_php_for(major, SCRIPT, &[KEY, "decrypt", &sealed, name]) else {
            return;
        };
        let plain = base64::engine::general_purpose::STANDARD
            .decode(out.trim())
            .unwrap();
        assert_eq!(plain, COMMAND, "{name}");
    }
}
