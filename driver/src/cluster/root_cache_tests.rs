use super::*;
use std::os::unix::fs::MetadataExt;

fn harper(version: &str) -> Harper {
    Harper { node: "/usr/bin/node".into(), cli: "/nonexistent/harperdb.js".into(), version: version.into() }
}

fn settings(root: &str, ip: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut s: Vec<(String, String)> = [
        ("TC_AGREEMENT", "yes"),
        ("ROOTPATH", root),
        ("HDB_ADMIN_USERNAME", "admin"),
        ("HDB_ADMIN_PASSWORD", "run-password"),
        ("NODE_HOSTNAME", ip),
        ("REPLICATION_HOSTNAME", ip),
        ("HTTP_PORT", &format!("{ip}:9926")),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    s.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    s
}

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("blobfail-root-cache-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn the_key_names_what_makes_an_install_differ_and_nothing_else() {
    let base = key(&harper("4.7.29"), &settings("/r1/root", "127.0.0.3", &[]), "pw-one");
    assert!(base.starts_with("4.7.29-127.0.0.3-"), "{base}");
    assert_eq!(base.len(), "4.7.29-127.0.0.3-".len() + 16, "{base}");
    // Where the root is, the run's password and the settings' order do not count.
    assert_eq!(key(&harper("4.7.29"), &settings("/elsewhere/root", "127.0.0.3", &[]), "pw-one"), base);
    let mut shuffled = settings("/r1/root", "127.0.0.3", &[]);
    shuffled.reverse();
    shuffled.iter_mut().find(|(k, _)| k == "HDB_ADMIN_PASSWORD").unwrap().1 = "another run's".into();
    assert_eq!(key(&harper("4.7.29"), &shuffled, "pw-one"), base);
    // Everything else does: the address (the certificate names it), a
    // scenario's setting, Harper's version, the cache's password.
    let differ = [
        key(&harper("4.7.29"), &settings("/r1/root", "127.0.0.4", &[]), "pw-one"),
        key(&harper("4.7.29"), &settings("/r1/root", "127.0.0.3", &[("THREADS_MAXHEAPMEMORY", "64")]), "pw-one"),
        key(&harper("4.7.30"), &settings("/r1/root", "127.0.0.3", &[]), "pw-one"),
        key(&harper("4.7.29"), &settings("/r1/root", "127.0.0.3", &[]), "pw-two"),
        key(&Harper { cli: "/other/harperdb.js".into(), ..harper("4.7.29") }, &settings("/r1/root", "127.0.0.3", &[]), "pw-one"),
    ];
    for k in &differ {
        assert_ne!(k, &base);
    }
    // The password is not in the key in any readable form.
    assert!(!base.contains("pw-one"));
}

#[test]
fn a_rewrite_replaces_whole_paths_only() {
    let config = "componentsRoot: /c/.partial-k-1/root/components\nrootPath: /c/.partial-k-1/root\n\
                  storage:\n  path: /c/.partial-k-1/root/database\nother: /c/.partial-k-1/rootless\n";
    let out = rewrite(config, &[("/c/.partial-k-1/root", "/run/node-b/root")]);
    assert_eq!(
        out,
        "componentsRoot: /run/node-b/root/components\nrootPath: /run/node-b/root\n\
         storage:\n  path: /run/node-b/root/database\nother: /c/.partial-k-1/rootless\n"
    );
    let boot = "settings_path = /c/.partial-k-1/root/harperdb-config.yaml\n    install_user = me";
    assert_eq!(
        rewrite(boot, &[("/c/.partial-k-1/root", "/r/root"), ("/c/.partial-k-1/home", "/r/home")]),
        "settings_path = /r/root/harperdb-config.yaml\n    install_user = me"
    );
    assert!(plain_path(Path::new("/tmp/blobfail-blob-save-1/node-b/root")));
    assert!(!plain_path(Path::new("/tmp/my runs/node-b/root")));
    assert!(!plain_path(Path::new("/tmp/a: b/root")));
    assert!(!plain_path(Path::new("relative/root")));
}

#[test]
fn a_copy_is_sparse_keeps_modes_and_names_only_itself() {
    let top = temp("copy");
    let (cache, run) = (top.join("cache"), top.join("run"));
    let c = RootCache::open(cache.clone()).unwrap();
    assert_eq!(fs::metadata(&cache).unwrap().mode() & 0o777, 0o700);
    assert_eq!(fs::metadata(cache.join(PASSWORD_FILE)).unwrap().mode() & 0o777, 0o600);
    // Opened again: the same password.
    assert_eq!(RootCache::open(cache.clone()).unwrap().password(), c.password());

    let staged = top.join("installed");
    let root = staged.join("root");
    fs::create_dir_all(root.join("database")).unwrap();
    fs::create_dir_all(root.join("keys")).unwrap();
    fs::create_dir_all(staged.join("home/.harperdb")).unwrap();
    let r = root.display().to_string();
    fs::write(root.join(CONFIG), format!("rootPath: {r}\nstorage:\n  path: {r}/database\n")).unwrap();
    fs::write(staged.join("home").join(BOOT_PROPS), format!("settings_path = {r}/{CONFIG}\n")).unwrap();
    fs::write(root.join("keys/privateKey.pem"), "secret").unwrap();
    fs::set_permissions(root.join("keys/privateKey.pem"), fs::Permissions::from_mode(0o600)).unwrap();
    // A sparse 8 MiB database with data at its start and its end.
    let db = root.join("database/data.mdb");
    {
        let mut f = File::create(&db).unwrap();
        f.write_all(b"head").unwrap();
        f.seek(SeekFrom::Start(8 * 1024 * 1024 - 4)).unwrap();
        f.write_all(b"tail").unwrap();
    }
    fs::write(root.join("database/data.mdb-lock"), "lock").unwrap();
    fs::write(root.join("hdb.pid"), "1").unwrap();
    commit(&staged, &cache.join(".fill-1-0"), &cache.join("k")).unwrap();
    assert!(c.has("k") && !cache.join(".fill-1-0").exists());
    assert!(!cache.join("k/root/hdb.pid").exists() && !cache.join("k/root/database/data.mdb-lock").exists());

    let (new_root, new_home) = (run.join("node-b/root"), run.join("node-b/home"));
    fs::create_dir_all(&new_root).unwrap();
    c.copy_into("k", &new_root, &new_home).unwrap();
    let config = fs::read_to_string(new_root.join(CONFIG)).unwrap();
    let nr = new_root.display().to_string();
    assert_eq!(config, format!("rootPath: {nr}\nstorage:\n  path: {nr}/database\n"));
    assert_eq!(fs::read_to_string(new_home.join(BOOT_PROPS)).unwrap(), format!("settings_path = {nr}/{CONFIG}\n"));
    let copied = fs::metadata(new_root.join("database/data.mdb")).unwrap();
    assert_eq!(copied.len(), 8 * 1024 * 1024);
    assert!(copied.blocks() * 512 < 1024 * 1024, "the copy is not sparse: {} blocks", copied.blocks());
    let bytes = fs::read(new_root.join("database/data.mdb")).unwrap();
    assert_eq!((&bytes[..4], &bytes[bytes.len() - 4..]), (&b"head"[..], &b"tail"[..]));
    assert_eq!(fs::metadata(new_root.join("keys/privateKey.pem")).unwrap().mode() & 0o777, 0o600);
    // The cached original still names where it was installed.
    assert!(fs::read_to_string(cache.join("k/root").join(CONFIG)).unwrap().contains(&r));
    fs::remove_dir_all(&top).unwrap();
}
