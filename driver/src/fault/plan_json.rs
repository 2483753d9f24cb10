//! A plan as report.json (`figures.fault_plan`) and observations.json
//! (each faulted node's `shim.spec`) hold it: its name, families and path,
//! and one key per part of its trigger and effect (`interval`, `errno`,
//! `space_bytes`, `delay_ms`, …). The keys and their order are those of
//! the plan before it was a trigger × an effect, so saved run folders read
//! back and new ones are written byte for byte as before. Read back, a
//! name must be a named plan's and the parts must make a fault the shim
//! can inject; anything else is refused, never taken for another plan.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use blobfail_vocab::CorruptMode;

use super::kind::{self, Effect, Fault, Trigger};
use super::plan::{PlanSpec, NAMES};

/// The saved shape. Keys absent from every named plan (`skip`, `max`,
/// `effect`, …) are left out when at their default.
#[derive(Serialize, Deserialize)]
struct Saved {
    plan: String,
    calls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    interval: Option<u64>,
    #[serde(default, skip_serializing_if = "is_zero")]
    skip: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    errno: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    space_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    delay_ms: Option<u64>,
    /// The shim's effect, when neither fail nor a delay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    effect: Option<String>,
    /// A crash kills the process group.
    #[serde(default, skip_serializing_if = "is_false")]
    crash_group: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    corrupt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    path: String,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl From<&PlanSpec> for Saved {
    fn from(p: &PlanSpec) -> Saved {
        let f = &p.fault;
        let (mut interval, mut skip, mut max, mut space_bytes) = (None, 0, None, None);
        match f.trigger() {
            // A delay's trigger is every call: no interval of its own.
            Trigger::EveryNth { .. } if matches!(f.effect(), Effect::Delay { .. }) => {}
            Trigger::EveryNth { every, skip: s, max: m } => (interval, skip, max) = (Some(every), s, m),
            Trigger::Budget { bytes } => space_bytes = Some(bytes),
        }
        let (mut delay_ms, mut effect, mut crash_group, mut corrupt, mut seed) = (None, None, false, None, None);
        match f.effect() {
            Effect::Fail { .. } => {}
            Effect::Delay { ms } => delay_ms = Some(ms),
            Effect::Crash { group, .. } => {
                effect = f.effect().shim_effect().map(|e| e.name().to_string());
                crash_group = group;
            }
            Effect::Corrupt { mode, seed: s } => {
                effect = Some(blobfail_vocab::Effect::Corrupt.name().to_string());
                corrupt = Some(mode.name().to_string());
                seed = Some(s);
            }
        }
        Saved {
            plan: p.plan.to_string(),
            calls: f.call_names().into_iter().map(String::from).collect(),
            interval,
            skip,
            max,
            errno: f.effect().errno().map(String::from),
            space_bytes,
            delay_ms,
            effect,
            crash_group,
            corrupt,
            seed,
            path: f.path().to_string(),
        }
    }
}

impl Saved {
    fn into_plan(self) -> Result<PlanSpec, String> {
        let plan = NAMES.iter().copied().find(|n| *n == self.plan).ok_or_else(|| format!("unknown fault plan {:?}", self.plan))?;
        let trigger = match (self.interval, self.space_bytes, self.delay_ms) {
            (Some(_), Some(_), _) => return Err(format!("fault plan {plan}: both an interval and a space budget")),
            (Some(every), None, _) => Trigger::EveryNth { every, skip: self.skip, max: self.max },
            (None, Some(bytes), _) => Trigger::Budget { bytes },
            (None, None, Some(_)) => Trigger::every(1),
            (None, None, None) => return Err(format!("fault plan {plan}: no interval, space budget or delay triggers it")),
        };
        let effect = match (self.delay_ms, self.effect.as_deref()) {
            (Some(ms), None) => Effect::Delay { ms },
            (Some(_), Some(e)) => return Err(format!("fault plan {plan}: both a delay and the effect {e}")),
            (None, None | Some("fail")) => {
                // A saved failing plan names its errno; without one, the shim's default.
                let default = if matches!(trigger, Trigger::Budget { .. }) { "ENOSPC" } else { "ENOENT" };
                let name = self.errno.as_deref().unwrap_or(default);
                Effect::Fail { errno: Effect::errno_named(name).ok_or_else(|| format!("fault plan {plan}: unknown errno {name:?}"))? }
            }
            (None, Some("crash-before")) => Effect::Crash { after: false, group: self.crash_group },
            (None, Some("crash-after")) => Effect::Crash { after: true, group: self.crash_group },
            (None, Some("corrupt")) => {
                let mode = self.corrupt.as_deref().unwrap_or("flip");
                let mode = CorruptMode::from_name(mode.as_bytes()).ok_or_else(|| format!("fault plan {plan}: unknown corruption {mode:?}"))?;
                Effect::Corrupt { mode, seed: self.seed.unwrap_or(0) }
            }
            (None, Some(e)) => return Err(format!("fault plan {plan}: an effect the driver does not inject: {e:?}")),
        };
        let fault = Fault::new(kind::families(&self.calls)?, self.path, trigger, effect).map_err(|e| format!("fault plan {plan}: {e}"))?;
        Ok(PlanSpec { plan, fault })
    }
}

impl Serialize for PlanSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Saved::from(self).serialize(s)
    }
}

impl<'de> Deserialize<'de> for PlanSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<PlanSpec, D::Error> {
        Saved::deserialize(d)?.into_plan().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::plan::{resolve, Overrides};

    /// What each named plan serialized to before it was a trigger × an
    /// effect (serde_json of the old struct, fields in declaration order).
    const BEFORE: [(&str, &str); 5] = [
        ("open-enoent", r#"{"plan":"open-enoent","calls":["open"],"interval":7,"errno":"ENOENT","path":"/blobs/"}"#),
        ("write-enospc", r#"{"plan":"write-enospc","calls":["write"],"interval":7,"errno":"ENOSPC","path":"/blobs/"}"#),
        ("fsync-eio", r#"{"plan":"fsync-eio","calls":["sync"],"interval":7,"errno":"EIO","path":"/blobs/"}"#),
        ("disk-full", r#"{"plan":"disk-full","calls":["write"],"errno":"ENOSPC","space_bytes":4194304,"path":"/blobs/"}"#),
        ("slow-disk", r#"{"plan":"slow-disk","calls":["open","write","sync","close"],"delay_ms":10,"path":"/blobs/"}"#),
    ];

    #[test]
    fn each_named_plan_serializes_as_before_and_reads_back() {
        for (name, json) in BEFORE {
            let p = PlanSpec::named(name).unwrap();
            assert_eq!(serde_json::to_string(&p).unwrap(), json, "{name}");
            assert_eq!(serde_json::from_str::<PlanSpec>(json).unwrap(), p, "{name}");
        }
    }

    #[test]
    fn overridden_plans_serialize_as_before() {
        let o = Overrides {
            calls: Some(vec!["sync".into(), "write".into()]),
            interval: Some(3),
            errno: Some("EIO".into()),
            space: Some(1 << 20),
            delay_ms: Some(25),
        };
        let got: Vec<String> = resolve("all", &o).unwrap().iter().map(|p| serde_json::to_string(p).unwrap()).collect();
        assert_eq!(
            got,
            [
                r#"{"plan":"open-enoent","calls":["sync","write"],"interval":3,"errno":"EIO","path":"/blobs/"}"#,
                r#"{"plan":"write-enospc","calls":["sync","write"],"interval":3,"errno":"EIO","path":"/blobs/"}"#,
                r#"{"plan":"fsync-eio","calls":["sync","write"],"interval":3,"errno":"EIO","path":"/blobs/"}"#,
                r#"{"plan":"disk-full","calls":["sync","write"],"errno":"EIO","space_bytes":1048576,"path":"/blobs/"}"#,
                r#"{"plan":"slow-disk","calls":["sync","write"],"delay_ms":25,"path":"/blobs/"}"#,
            ]
        );
        for json in &got {
            assert_eq!(&serde_json::to_string(&serde_json::from_str::<PlanSpec>(json).unwrap()).unwrap(), json);
        }
    }

    #[test]
    fn the_saved_plan_of_the_judge_fixture_reads_back() {
        // tests/hermetic/judge/blob-save/observations.json's shim.spec, keys sorted.
        let saved = r#"{"calls":["open"],"errno":"ENOENT","interval":7,"path":"/blobs/","plan":"open-enoent"}"#;
        assert_eq!(serde_json::from_str::<PlanSpec>(saved).unwrap(), PlanSpec::named("open-enoent").unwrap());
    }

    #[test]
    fn crash_and_corrupt_round_trip() {
        use blobfail_vocab::Family::Write;
        for effect in [Effect::Crash { after: true, group: true }, Effect::Corrupt { mode: CorruptMode::Zero, seed: 7 }] {
            let fault = Fault::new(vec![Write], "/r/", Trigger::EveryNth { every: 5, skip: 2, max: Some(1) }, effect).unwrap();
            let p = PlanSpec { plan: "open-enoent", fault };
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(serde_json::from_str::<PlanSpec>(&json).unwrap(), p, "{json}");
        }
        let p = PlanSpec { plan: "open-enoent", fault: Fault::new(vec![Write], "/r/", Trigger::every(3), Effect::Crash { after: true, group: true }).unwrap() };
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"plan":"open-enoent","calls":["write"],"interval":3,"effect":"crash-after","crash_group":true,"path":"/r/"}"#
        );
    }

    #[test]
    fn a_saved_plan_that_is_no_plan_is_refused_not_replaced() {
        let err = |json: &str| serde_json::from_str::<PlanSpec>(json).unwrap_err().to_string();
        assert!(err(r#"{"plan":"open-enoint","calls":["open"],"interval":7,"errno":"ENOENT","path":"/blobs/"}"#)
            .starts_with("unknown fault plan \"open-enoint\""));
        assert!(err(r#"{"plan":"disk-full","calls":["write"],"interval":7,"space_bytes":10,"path":"/blobs/"}"#)
            .starts_with("fault plan disk-full: both an interval and a space budget"));
        assert!(err(r#"{"plan":"slow-disk","calls":["open"],"path":"/blobs/"}"#)
            .starts_with("fault plan slow-disk: no interval, space budget or delay triggers it"));
        assert!(err(r#"{"plan":"open-enoent","calls":["open"],"interval":7,"errno":"EWHAT","path":"/blobs/"}"#)
            .starts_with("fault plan open-enoent: unknown errno \"EWHAT\""));
        assert!(err(r#"{"plan":"open-enoent","calls":["opens"],"interval":7,"errno":"EIO","path":"/blobs/"}"#)
            .starts_with("\"opens\" is not a call family"));
        assert!(err(r#"{"plan":"open-enoent","calls":["open"],"interval":0,"errno":"EIO","path":"/blobs/"}"#)
            .starts_with("fault plan open-enoent: every 0th call is no trigger"));
    }
}
