//! The gate against a fleet reference (`gate.reference`), on seeded synthetic windows: what a
//! matching reference waives and what it does not, `require` on a JIT plateau, and the fallback
//! to the stand-alone criterion (with its reason) when there is no usable reference. Pure: no
//! sockets (tests/fleet_reference.rs runs the same against a real Prometheus and real peers).
#![allow(clippy::unwrap_used)]

use loadgen::model::{Curve, Profile};
use warmgate::gate::synth::{Synth, SynthEndpoint};
use warmgate::gate::{
    Fleet, Gate, GateSettings, PeerLevel, ReferenceMode, ReferenceRule, Rule, Verdict,
};

/// The warm p99 of a lognormal with median 5 ms and sigma 0.5: 5 ms x e^(2.326 x 0.5).
const WARM_P99_S: f64 = 0.005 * 3.198_1;

fn endpoint(name: &str, profile: Profile, speed: f64) -> SynthEndpoint {
    SynthEndpoint {
        sigma: 0.5,
        ..SynthEndpoint::new(name, 200.0, Curve::new(profile, speed))
    }
}

fn settings(mode: ReferenceMode) -> GateSettings {
    GateSettings {
        reference: Some(ReferenceRule {
            mode,
            tolerance: 0.15,
            min_peers: 1,
        }),
        ..GateSettings::default()
    }
}

/// A fleet whose every endpoint's level is `seconds`, over `peers` peers.
fn fleet(endpoints: usize, seconds: f64, peers: u32) -> Fleet {
    Fleet {
        endpoints: vec![Ok(PeerLevel { seconds, peers }); endpoints],
        age_s: Some(2.0),
    }
}

/// Feeds windows until ready or `windows` have passed: every verdict.
fn run(
    settings: GateSettings,
    endpoints: Vec<SynthEndpoint>,
    seed: u64,
    windows: usize,
    fleet: Option<&Fleet>,
) -> Vec<Verdict> {
    let mut synth = Synth::new(seed, settings.window, endpoints);
    let mut gate = Gate::new(settings, synth.names());
    let mut out = Vec::new();
    for _ in 0..windows {
        let v = gate.observe_with(&synth.next_snapshot(), fleet);
        let ready = v.ready;
        out.push(v);
        if ready {
            break;
        }
    }
    out
}

fn says(v: &Verdict, text: &str) -> bool {
    v.reasons.iter().any(|r| r.contains(text))
}

#[test]
fn a_flat_app_at_the_fleets_level_opens_by_the_reference_within_20_s() {
    // 2 x 200 rps: 2,000 samples per endpoint take 10 s (two 5 s windows). The upper bound of
    // the p99's 95% interval sits ~7-8% above the estimate at 2,000-4,000 samples (sigma 0.5),
    // and the synthetic windows vary beyond sampling as real ones do: over 300 seeds 92% were
    // ready within 20 s (4 windows), 99% within 30 s, by the reference rule and with no
    // confirming streak. Seeded, so the counts below are exact for this code.
    let mut within_20_s = 0;
    for seed in 0..20 {
        let eps = vec![
            endpoint("home", Profile::Flat, 1.0),
            endpoint("search", Profile::Flat, 1.0),
        ];
        let f = fleet(2, WARM_P99_S, 3);
        let vs = run(settings(ReferenceMode::Accelerate), eps, seed, 12, Some(&f));
        let v = vs.last().expect("verdicts");
        assert!(
            v.ready && vs.len() <= 8,
            "seed {seed}: ready {} after {} windows: {:?}",
            v.ready,
            vs.len(),
            v.reasons
        );
        within_20_s += usize::from(vs.len() <= 4);
        assert_eq!(v.rule, Some(Rule::Reference), "seed {seed}");
        for e in &v.endpoints {
            assert_eq!(e.rule, Some(Rule::Reference), "seed {seed}");
            assert_eq!(e.class, warmgate::gate::Class::Flat, "seed {seed}");
            assert_eq!(e.reference_peers, Some(3));
            let (upper, reference) = (e.recent_upper_ms.unwrap(), e.reference_ms.unwrap());
            assert!(upper <= reference * 1.15 + 1e-9, "{upper} vs {reference}");
        }
        assert!(
            v.summary()
                .contains("within tolerance of the fleet reference"),
            "{}",
            v.summary()
        );
    }
    assert!(
        within_20_s >= 17,
        "{within_20_s} of 20 seeds ready within 20 s"
    );
}

#[test]
fn a_reference_never_waives_errors_or_the_ceiling() {
    let mut eps = vec![endpoint("home", Profile::Flat, 1.0)];
    eps[0].error_rate = 0.05;
    let f = fleet(1, WARM_P99_S, 2);
    let vs = run(settings(ReferenceMode::Accelerate), eps, 3, 8, Some(&f));
    let v = vs.last().unwrap();
    assert!(!v.ready && says(v, "error rate"), "{:?}", v.reasons);

    let mut s = settings(ReferenceMode::Accelerate);
    s.endpoints = vec![warmgate::gate::EndpointSpec {
        name: "home".into(),
        ceiling: Some(std::time::Duration::from_millis(10)),
    }];
    let vs = run(
        s,
        vec![endpoint("home", Profile::Flat, 1.0)],
        3,
        8,
        Some(&f),
    );
    let v = vs.last().unwrap();
    assert!(!v.ready && says(v, "over ceiling"), "{:?}", v.reasons);
}

#[test]
fn a_slower_app_than_the_fleet_is_judged_alone_in_accelerate_and_held_in_require() {
    // The fleet is twice as fast as this (flat) app.
    let f = fleet(1, WARM_P99_S / 2.0, 2);
    let eps = || vec![endpoint("home", Profile::Flat, 1.0)];
    let alone = run(GateSettings::default(), eps(), 5, 48, None);
    let vs = run(settings(ReferenceMode::Accelerate), eps(), 5, 48, Some(&f));
    let v = vs.last().unwrap();
    assert!(v.ready, "{:?}", v.reasons);
    assert_eq!(v.rule, Some(Rule::StandAlone));
    // Judged alone: exactly when the stand-alone gate opens.
    assert_eq!(vs.len(), alone.len());
    let before = &vs[vs.len() - 2];
    let note = before
        .reference
        .as_ref()
        .and_then(|r| r.note.clone())
        .unwrap();
    assert!(
        note.contains("is above") && note.contains("judging alone"),
        "{note}"
    );

    let vs = run(settings(ReferenceMode::Require), eps(), 5, 48, Some(&f));
    let v = vs.last().unwrap();
    assert!(!v.ready, "require opened an app 2x slower than its fleet");
    assert!(
        says(v, "above the fleet's") && says(v, "gate.reference.mode: require"),
        "{:?}",
        v.reasons
    );
}

#[test]
fn require_holds_a_tiered_app_on_its_c1_plateau_until_c2() {
    // `tiered` at speed 0.2: C1 (2.5x) from 5,000 requests, C2 (warm) at 50,000 = 250 s at
    // 200 rps. Without the tier hold and with a lax max_rise the stand-alone criterion opens on
    // the plateau; `require` holds it until C2 and then opens by the reference.
    let base = GateSettings {
        tier_requests: 0,
        max_rise: 0.5,
        ..GateSettings::default()
    };
    let eps = || vec![endpoint("home", Profile::Tiered, 0.2)];
    let alone = run(base.clone(), eps(), 7, 80, None);
    let opened = alone.len() * 5;
    assert!(
        alone.last().unwrap().ready && opened < 250,
        "the stand-alone gate should open on the plateau (here at {opened} s)"
    );
    let s = GateSettings {
        reference: settings(ReferenceMode::Require).reference,
        ..base
    };
    let f = fleet(1, WARM_P99_S, 2);
    let vs = run(s, eps(), 7, 80, Some(&f));
    let v = vs.last().unwrap();
    let at = vs.len() * 5;
    assert!(
        v.ready && at > 250,
        "require opened at {at} s (C2 at 250 s)"
    );
    // While on the plateau the require rule is what holds it, at ~2.5x the fleet.
    let on_plateau = &vs[alone.len() + 2];
    assert!(
        says(on_plateau, "above the fleet's"),
        "{:?}",
        on_plateau.reasons
    );
}

#[test]
fn without_a_usable_reference_the_stand_alone_criterion_decides_and_says_why() {
    let eps = || vec![endpoint("home", Profile::Flat, 1.0)];
    let alone = run(GateSettings::default(), eps(), 9, 48, None);
    for (f, why) in [
        (
            Fleet::unavailable(1, "prometheus unreachable (connection refused)"),
            "prometheus unreachable (connection refused)",
        ),
        (fleet(1, WARM_P99_S, 1), "1 of the 2 peers"),
    ] {
        let mut s = settings(ReferenceMode::Require);
        if let Some(r) = s.reference.as_mut() {
            r.min_peers = 2;
        }
        let vs = run(s, eps(), 9, 48, Some(&f));
        assert_eq!(vs.len(), alone.len(), "{why}");
        let v = vs.last().unwrap();
        assert_eq!(v.rule, Some(Rule::StandAlone));
        let before = &vs[1];
        let note = before
            .reference
            .as_ref()
            .and_then(|r| r.note.clone())
            .unwrap();
        assert!(
            note.contains(why) && note.ends_with("judging alone"),
            "{note}"
        );
        assert!(before.summary().contains(why), "{}", before.summary());
    }
    // A rule but no answer at all yet.
    let vs = run(settings(ReferenceMode::Accelerate), eps(), 9, 2, None);
    let note = vs[0]
        .reference
        .as_ref()
        .and_then(|r| r.note.clone())
        .unwrap();
    assert!(note.contains("no answer from Prometheus yet"), "{note}");
}
