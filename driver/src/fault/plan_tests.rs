//! Each named plan as a trigger × an effect, every override on every plan
//! that has its part, and every refusal with its exact text.

use std::collections::BTreeMap;

use blobfail_vocab::Family::*;

use super::*;

fn env(p: &PlanSpec) -> Vec<(String, String)> {
    p.env()
}

fn pairs(kv: &[(&str, &str)]) -> Vec<(String, String)> {
    kv.iter().map(|(k, v)| (format!("HARPER_TEST_BLOB_FAIL_{k}"), v.to_string())).collect()
}

#[test]
fn each_named_plan_is_its_trigger_and_its_effect() {
    let fail = |errno| Effect::Fail { errno };
    for (name, calls, trigger, effect, parts) in [
        ("open-enoent", vec![Open], Trigger::every(7), fail("ENOENT"), &[Part::Calls, Part::Interval, Part::Errno][..]),
        ("write-enospc", vec![Write], Trigger::every(7), fail("ENOSPC"), &[Part::Calls, Part::Interval, Part::Errno]),
        ("fsync-eio", vec![Sync], Trigger::every(7), fail("EIO"), &[Part::Calls, Part::Interval, Part::Errno]),
        ("disk-full", vec![Write], Trigger::Budget { bytes: 4 << 20 }, fail("ENOSPC"), &[Part::Calls, Part::Space, Part::Errno]),
        ("slow-disk", vec![Open, Write, Sync, Close], Trigger::every(1), Effect::Delay { ms: 10 }, &[Part::Calls, Part::Delay]),
    ] {
        let p = PlanSpec::named(name).unwrap();
        assert_eq!(p.plan, name);
        assert_eq!(p.fault, Fault::new(calls, "/blobs/", trigger, effect).unwrap(), "{name}");
        assert_eq!(p.parts(), parts, "{name}");
    }
    assert_eq!(PlanSpec::named("open-enoint"), None);
    assert_eq!(PlanSpec::named("all"), None);
}

#[test]
fn each_named_plan_arms_the_shim_with_exactly_these_variables_in_this_order() {
    let named = |n| env(&PlanSpec::named(n).unwrap());
    let every = |calls, errno| pairs(&[("CALLS", calls), ("PATH", "/blobs/"), ("OPS", "write"), ("INTERVAL", "7"), ("ERRNO", errno)]);
    assert_eq!(named("open-enoent"), every("open", "ENOENT"));
    assert_eq!(named("write-enospc"), every("write", "ENOSPC"));
    assert_eq!(named("fsync-eio"), every("sync", "EIO"));
    assert_eq!(
        named("disk-full"),
        pairs(&[("CALLS", "write"), ("PATH", "/blobs/"), ("OPS", "write"), ("ERRNO", "ENOSPC"), ("SPACE", "4194304")])
    );
    assert_eq!(
        named("slow-disk"),
        pairs(&[("CALLS", "open,write,sync,close"), ("PATH", "/blobs/"), ("OPS", "write"), ("DELAY", "10ms")])
    );
}

#[test]
fn each_named_plan_says_what_it_does() {
    let said: Vec<String> = NAMES.iter().map(|n| PlanSpec::named(n).unwrap().to_string()).collect();
    assert_eq!(
        said,
        [
            "open-enoent: every 7th open call on a blob file of node B fails with ENOENT",
            "write-enospc: every 7th write call on a blob file of node B fails with ENOSPC",
            "fsync-eio: every 7th sync call on a blob file of node B fails with EIO",
            "disk-full: node B's writes to blob files may use 4 MiB, then fail with ENOSPC",
            "slow-disk: every open/write/sync/close call on a blob file of node B waits 10 ms first; none fails",
        ]
    );
}

#[test]
fn every_override_replaces_its_part_on_every_plan_that_has_it() {
    let one = |list: &str, o: Overrides| resolve(list, &o).unwrap().remove(0);
    let calls = || Some(vec!["close".to_string(), "open".to_string()]);
    // --calls: every plan has it; the order given is kept.
    for name in NAMES {
        let p = one(name, Overrides { calls: calls(), ..Default::default() });
        assert_eq!(p.fault.call_names(), ["close", "open"], "{name}");
        assert_eq!(env(&p)[0], ("HARPER_TEST_BLOB_FAIL_CALLS".to_string(), "close,open".to_string()), "{name}");
        assert_eq!((p.fault.trigger(), p.fault.effect()), (PlanSpec::named(name).unwrap().fault.trigger(), PlanSpec::named(name).unwrap().fault.effect()));
    }
    // --interval: the every-Nth plans' trigger.
    for name in ["open-enoent", "write-enospc", "fsync-eio"] {
        let p = one(name, Overrides { interval: Some(3), ..Default::default() });
        assert_eq!(p.fault.trigger(), Trigger::every(3), "{name}");
        assert!(p.to_string().contains(": every 3rd "), "{p}");
    }
    // --errno: the failing plans' effect.
    for name in ["open-enoent", "write-enospc", "fsync-eio", "disk-full"] {
        let p = one(name, Overrides { errno: Some("EROFS".into()), ..Default::default() });
        assert_eq!(p.fault.effect(), Effect::Fail { errno: "EROFS" }, "{name}");
        assert!(env(&p).contains(&("HARPER_TEST_BLOB_FAIL_ERRNO".to_string(), "EROFS".to_string())));
    }
    // --space: the full disk's trigger.
    let p = one("disk-full", Overrides { space: Some(1536 << 10), ..Default::default() });
    assert_eq!(p.fault.trigger(), Trigger::Budget { bytes: 1536 << 10 });
    assert_eq!(p.to_string(), "disk-full: node B's writes to blob files may use 1536 KiB, then fail with ENOSPC");
    // --delay: the slow disk's effect; its trigger stays every call.
    let p = one("slow-disk", Overrides { delay_ms: Some(250), ..Default::default() });
    assert_eq!((p.fault.trigger(), p.fault.effect()), (Trigger::every(1), Effect::Delay { ms: 250 }));
    assert_eq!(env(&p).last().unwrap().1, "250ms");
    // All of them at once, each plan taking its own.
    let o = Overrides { calls: calls(), interval: Some(2), errno: Some("EIO".into()), space: Some(1000), delay_ms: Some(5) };
    let all: BTreeMap<&str, String> = resolve("all", &o).unwrap().iter().map(|p| (p.plan, p.to_string())).collect();
    assert_eq!(all["fsync-eio"], "fsync-eio: every 2nd close/open call on a blob file of node B fails with EIO");
    assert_eq!(all["disk-full"], "disk-full: node B's writes to blob files may use 1000 bytes, then fail with EIO");
    assert_eq!(all["slow-disk"], "slow-disk: every close/open call on a blob file of node B waits 5 ms first; none fails");
}

#[test]
fn an_override_no_chosen_plan_has_is_refused_naming_the_plans_that_have_it() {
    let refused = |list: &str, o: Overrides| resolve(list, &o).unwrap_err();
    assert_eq!(
        refused("disk-full", Overrides { interval: Some(3), ..Default::default() }),
        "--interval contradicts --fault disk-full: that plan has no such part (it is a part of open-enoent, write-enospc, fsync-eio)"
    );
    assert_eq!(
        refused("slow-disk,disk-full", Overrides { interval: Some(3), ..Default::default() }),
        "--interval contradicts --fault slow-disk,disk-full: none of those plans has such a part (it is a part of open-enoent, write-enospc, fsync-eio)"
    );
    assert_eq!(
        refused("slow-disk", Overrides { errno: Some("EIO".into()), ..Default::default() }),
        "--errno contradicts --fault slow-disk: that plan has no such part (it is a part of open-enoent, write-enospc, fsync-eio, disk-full)"
    );
    assert_eq!(
        refused("open-enoent,fsync-eio", Overrides { space: Some(1 << 20), ..Default::default() }),
        "--space contradicts --fault open-enoent,fsync-eio: none of those plans has such a part (it is a part of disk-full)"
    );
    assert_eq!(
        refused("write-enospc", Overrides { delay_ms: Some(5), ..Default::default() }),
        "--delay contradicts --fault write-enospc: that plan has no such part (it is a part of slow-disk)"
    );
    // The first override given that fits no plan is the one said.
    assert_eq!(
        refused("slow-disk", Overrides { interval: Some(2), errno: Some("EIO".into()), ..Default::default() }),
        "--interval contradicts --fault slow-disk: that plan has no such part (it is a part of open-enoent, write-enospc, fsync-eio)"
    );
}

#[test]
fn an_unknown_plan_is_refused_never_replaced() {
    let msg = |n: &str| format!("--fault {n:?} is not a fault plan: choose from open-enoent, write-enospc, fsync-eio, disk-full, slow-disk, or all (comma-separated for several)");
    for list in ["fsync-eoi", "open-enoent,fsync-eoi", "", "open-enoent,", "ALL", "Open-Enoent"] {
        let bad = list.split(',').map(str::trim).find(|n| !NAMES.contains(n) && *n != "all").unwrap();
        assert_eq!(resolve(list, &Overrides::default()).unwrap_err(), msg(bad), "{list:?}");
    }
    let names = |list| resolve(list, &Overrides::default()).unwrap().iter().map(|p| p.plan).collect::<Vec<_>>();
    assert_eq!(names("disk-full, open-enoent ,disk-full"), ["disk-full", "open-enoent"]);
    assert_eq!(names("slow-disk,all"), ["slow-disk", "open-enoent", "write-enospc", "fsync-eio", "disk-full"]);
}

#[test]
fn the_option_parsers_refuse_with_these_words() {
    assert_eq!(parse_space("0").unwrap_err(), "\"0\" is no space at all: give a budget of at least 1 byte");
    assert_eq!(
        parse_space("4 MiB").unwrap_err(),
        "\"4 MiB\" is not a size: a whole number of bytes, or a number with B, KiB, MiB, GiB or TiB (e.g. 10MiB, 1.5GiB)"
    );
    assert_eq!(parse_space("1.5GiB"), Ok(1536 << 20));
    assert_eq!(parse_delay("0").unwrap_err(), "\"0\" is out of range: a delay is 1 ms to 10 s");
    assert_eq!(parse_delay("11s").unwrap_err(), "\"11s\" is out of range: a delay is 1 ms to 10 s");
    assert_eq!(parse_delay("20us").unwrap_err(), "\"20us\" is not a delay: give milliseconds, e.g. 20ms or 1s");
    assert_eq!((parse_delay("20"), parse_delay(" 20 ms"), parse_delay("10s")), (Ok(20), Ok(20), Ok(10_000)));
    assert_eq!(
        parse_errno("ENOPE").unwrap_err(),
        format!("\"ENOPE\" is not an errno this driver knows: use one of {}", ERRNOS.join(", "))
    );
    assert_eq!(parse_errno(" erofs "), Ok("EROFS".into()));
    assert_eq!(
        parse_calls("write,reed").unwrap_err(),
        "\"reed\" is not a call family: use a comma list of open, write, sync, close, rename, truncate, mkdir, unlink, read"
    );
}

#[test]
fn a_fault_the_shim_would_refuse_cannot_be_made() {
    let fail = Effect::Fail { errno: "EIO" };
    let new = |calls: Vec<_>, t, e| Fault::new(calls, "/blobs/", t, e).unwrap_err();
    assert_eq!(new(vec![], Trigger::every(1), fail), "a fault counts at least one call family");
    assert_eq!(new(vec![Open], Trigger::every(0), fail), "every 0th call is no trigger: give a whole number from 1");
    assert_eq!(new(vec![Write], Trigger::Budget { bytes: 0 }, fail), "a budget of 0 bytes is no space at all: give at least 1 byte");
    assert_eq!(
        new(vec![Open], Trigger::every(7), Effect::Delay { ms: 10 }),
        "a delay acts on every matching call: its trigger is every call, without skip or max"
    );
    assert_eq!(
        new(vec![Open], Trigger::Budget { bytes: 10 }, Effect::Delay { ms: 10 }),
        "a delay acts on every matching call: its trigger is every call, without skip or max"
    );
    assert_eq!(new(vec![Open], Trigger::every(1), Effect::Delay { ms: 0 }), "a delay of 0 ms is no delay");
    assert_eq!(new(vec![Open], Trigger::every(1), Effect::Fail { errno: "enoent" }), "\"enoent\" is not an errno name of the shim's vocabulary");
    let corrupt = Effect::Corrupt { mode: blobfail_vocab::CorruptMode::Flip, seed: 1 };
    assert_eq!(new(vec![Write, Sync], Trigger::every(3), corrupt), "the effect corrupt cannot act on sync calls");
    assert_eq!(Fault::new(vec![Sync], "", Trigger::every(1), fail).unwrap_err(), "a fault needs a path substring to match");
    // The override path checks the same: --interval 0 given past the options.
    assert_eq!(
        resolve("open-enoent", &Overrides { interval: Some(0), ..Default::default() }).unwrap_err(),
        "every 0th call is no trigger: give a whole number from 1"
    );
}

#[test]
fn crash_and_corrupt_arm_the_shim_as_crash_recovery_and_corrupt_blob_do() {
    let crash = Fault::new(vec![Write], "/run/b/root/", Trigger::EveryNth { every: 40, skip: 0, max: Some(1) }, Effect::Crash { after: true, group: true }).unwrap();
    assert_eq!(
        crash.env(),
        pairs(&[("CALLS", "write"), ("PATH", "/run/b/root/"), ("OPS", "write"), ("INTERVAL", "40"), ("MAX", "1"), ("EFFECT", "crash-after"), ("CRASH", "group")])
    );
    assert_eq!(crash.to_string(), "every 40th write call on a blob file of node B kills its process group (SIGKILL) right after the call, once");
    let corrupt = Fault::new(vec![Read], "/blobs/", Trigger::every(5), Effect::Corrupt { mode: blobfail_vocab::CorruptMode::Random, seed: 7 }).unwrap();
    assert_eq!(
        corrupt.env(),
        pairs(&[("CALLS", "read"), ("PATH", "/blobs/"), ("OPS", "write"), ("INTERVAL", "5"), ("EFFECT", "corrupt"), ("CORRUPT", "random"), ("SEED", "7")])
    );
    let skip = Fault::new(vec![Open], "/blobs/", Trigger::EveryNth { every: 2, skip: 3, max: None }, Effect::Fail { errno: "EIO" }).unwrap();
    assert_eq!(skip.env()[3..], pairs(&[("INTERVAL", "2"), ("SKIP", "3"), ("ERRNO", "EIO")])[..]);
    assert_eq!(skip.to_string(), "every 2nd open call on a blob file of node B fails with EIO, after the first 3 let through");
}
