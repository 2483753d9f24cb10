//! The containment fixture's patch (tests/support/containment.rs) applies
//! at exactly one site or not at all, so a Harper whose bundle changed is
//! never taken for one with the containment.

use blobfail_suite::containment::apply_containment;

const SITE: &str = "let ne=ra(()=>ap(me).saving,h.auditStore?.rootStore);return ne&&(ne.blobId=V,De.push(ne),";

#[test]
fn the_patch_replaces_the_one_site_with_the_catch_handled_promise() {
    let bundle = format!("function Zc(O,G){{{SITE}ne.finally(()=>{{}})),me}}");
    let patched = apply_containment(&bundle).unwrap();
    assert!(!patched.contains(SITE), "{patched}");
    assert!(patched.contains("ne=ne.catch(blobfailError=>{ce.error?.(`Blob save failed for ${G} from ${_}`,blobfailError)}),ne.blobId=V,De.push(ne),"), "{patched}");
    assert!(patched.starts_with("function Zc(O,G){let ne=ra(") && patched.ends_with("ne.finally(()=>{})),me}"), "{patched}");
}

#[test]
fn the_patch_refuses_a_bundle_without_the_site_or_with_it_twice() {
    for (bundle, n) in [("function Zc(){}".to_string(), 0), (format!("{SITE}{SITE}"), 2)] {
        let err = apply_containment(&bundle).unwrap_err();
        assert!(err.starts_with(&format!("the blob-save patch site occurs {n} times in server/threads/threadServer.js")), "{err}");
    }
}
