//! Leader election among two and three agents on one simulated Consul.

mod common;
use dbaas_consul_sim as sim;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use dbaas_consul_store::{ConsulStore, LeaderElection, Role};
use dbaas_store::contract::record;
use dbaas_store::{StateStore, StoreError};
use sim::{Action, Fault};
use tokio::sync::watch;

/// Waits until exactly one of `electors` (agent id, election) leads and
/// every other follows it; returns the leader's position.
async fn settled(electors: &[(String, &LeaderElection)]) -> usize {
    let ids: Vec<&String> = electors.iter().map(|(id, _)| id).collect();
    let deadline = tokio::time::Instant::now() + EVENTUALLY;
    loop {
        let roles: Vec<Role> = electors.iter().map(|(_, e)| e.current()).collect();
        let leaders: Vec<usize> = (0..roles.len()).filter(|&i| roles[i].is_leader()).collect();
        if let [leader] = leaders[..] {
            let followed = roles
                .iter()
                .enumerate()
                .all(|(i, r)| i == leader || r.leader().is_some_and(|l| &l.id == ids[leader]));
            if followed {
                return leader;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no settled election: {roles:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every generation was led by one agent only, over the whole run.
async fn assert_one_leader_per_generation(histories: Vec<(String, Vec<Role>)>) {
    let mut by_generation: HashMap<u64, Vec<String>> = HashMap::new();
    for (id, roles) in &histories {
        let mut mine: Vec<u64> = roles.iter().filter_map(Role::generation).collect();
        mine.dedup();
        for g in mine {
            by_generation.entry(g).or_default().push(id.clone());
        }
    }
    for (g, ids) in &by_generation {
        assert_eq!(ids.len(), 1, "generation {g} was led by {ids:?}");
    }
}

async fn stop_and_collect(
    electors: Vec<(String, LeaderElection)>,
    recorders: Vec<tokio::task::JoinHandle<Vec<Role>>>,
) -> Vec<(String, Vec<Role>)> {
    let ids: Vec<String> = electors.iter().map(|(id, _)| id.clone()).collect();
    for (_, e) in electors {
        e.resign().await;
    }
    let mut out = Vec::new();
    for (id, r) in ids.into_iter().zip(recorders) {
        out.push((id, r.await.unwrap()));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_agents_elect_exactly_one_leader_that_the_other_follows() {
    let sim = sim::start().await;
    let a0 = elector(&sim, "a0");
    let a1 = elector(&sim, "a1");
    let recorders = vec![record_roles(a0.role()), record_roles(a1.role())];
    let leader = settled(&[("a0".into(), &a0), ("a1".into(), &a1)]).await;
    let (winner, loser) = if leader == 0 { (&a0, &a1) } else { (&a1, &a0) };
    let Role::Leader(fence) = winner.current() else {
        unreachable!()
    };
    assert_eq!(fence.generation, 1);
    assert_eq!(sim.holder(&keys().leader()), Some(fence.session.clone()));
    let follows = loser.current();
    let info = follows.leader().unwrap();
    assert_eq!(info.address, format!("https://a{leader}.example:8080"));
    // Still one leader after several TTLs of renewals.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        settled(&[("a0".into(), &a0), ("a1".into(), &a1)]).await,
        leader
    );
    assert_eq!(winner.current().generation(), Some(1));
    let histories = stop_and_collect(vec![("a0".into(), a0), ("a1".into(), a1)], recorders).await;
    assert_one_leader_per_generation(histories).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_agents_another_takes_over_when_the_leader_dies() {
    let sim = sim::start().await;
    let mut electors: Vec<Option<LeaderElection>> = (0..3)
        .map(|i| Some(elector(&sim, &format!("a{i}"))))
        .collect();
    let recorders: Vec<_> = electors
        .iter()
        .map(|e| record_roles(e.as_ref().unwrap().role()))
        .collect();
    let all: Vec<(String, &LeaderElection)> = electors
        .iter()
        .enumerate()
        .map(|(i, e)| (format!("a{i}"), e.as_ref().unwrap()))
        .collect();
    let first = settled(&all).await;
    let Role::Leader(old_fence) = all[first].1.current() else {
        unreachable!()
    };
    let old_role = all[first].1.role();
    let old_store = ConsulStore::new(sim.client(), keys(), old_role);
    old_store
        .put_database(&record("orders", "1"))
        .await
        .unwrap();

    // The leader dies: no release, its session is simply no longer renewed.
    drop(electors[first].take());
    let rest: Vec<(usize, &LeaderElection)> = electors
        .iter()
        .enumerate()
        .filter_map(|(i, e)| e.as_ref().map(|e| (i, e)))
        .collect();
    let rest_refs: Vec<(String, &LeaderElection)> =
        rest.iter().map(|(i, e)| (format!("a{i}"), *e)).collect();
    let next = rest[settled(&rest_refs).await].0;
    assert_ne!(next, first);
    let new_role = electors[next].as_ref().unwrap().current();
    assert_eq!(new_role.generation(), Some(2));
    assert!(
        !sim.session_ids().contains(&old_fence.session),
        "the lock was taken only after the old session expired"
    );
    let survivor = rest.iter().find(|(i, _)| *i != next).unwrap().1;
    assert_eq!(
        survivor.current().leader().map(|l| l.id.clone()),
        Some(format!("a{next}"))
    );

    // The dead leader's role is frozen at "leader, generation 1" (as in a
    // paused process): its writes are refused, the new leader's apply.
    assert_eq!(old_store.keys(), &keys());
    let err = old_store
        .update_database("orders", &mut |d| d.size_gb = 99)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Fenced(_)), "{err:?}");
    let new_store = ConsulStore::new(
        sim.client(),
        keys(),
        electors[next].as_ref().unwrap().role(),
    );
    new_store
        .update_database("orders", &mut |d| d.size_gb = 2)
        .await
        .unwrap();
    assert_eq!(
        new_store
            .get_database("orders")
            .await
            .unwrap()
            .unwrap()
            .size_gb,
        2
    );

    for e in electors.into_iter().flatten() {
        e.resign().await;
    }
    let mut histories = Vec::new();
    for (i, r) in recorders.into_iter().enumerate() {
        histories.push((format!("a{i}"), r.await.unwrap()));
    }
    assert_one_leader_per_generation(histories).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_resigning_leader_hands_over_at_once() {
    let sim = sim::start().await;
    let a0 = elector(&sim, "a0");
    let mut a0_role = a0.role();
    until(&mut a0_role, "a0 leads", Role::is_leader).await;
    let a1 = elector(&sim, "a1");
    let mut a1_role = a1.role();
    until(&mut a1_role, "a1 follows a0", |r| {
        r.leader().is_some_and(|l| l.id == "a0")
    })
    .await;
    a0.resign().await;
    let won = until(&mut a1_role, "a1 leads", Role::is_leader).await;
    assert_eq!(won.generation(), Some(2));
    assert!(*a0_role.borrow() == Role::no_leader(), "a0 stepped down");
    a1.resign().await;
    assert_eq!(sim.holder(&keys().leader()), None, "the lock is released");
    assert!(sim.session_ids().is_empty(), "sessions are destroyed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leader_whose_renewals_fail_steps_down_and_its_writes_are_refused() {
    let sim = sim::start().await;
    let a0 = elector(&sim, "a0");
    let mut a0_role = a0.role();
    let led = until(&mut a0_role, "a0 leads", Role::is_leader).await;
    let Role::Leader(fence) = &led else {
        unreachable!()
    };
    let a1 = elector(&sim, "a1");
    let mut a1_role = a1.role();
    until(&mut a1_role, "a1 follows", |r| r.leader().is_some()).await;

    // Consul answers 500 to every renewal of the leader's session.
    sim.inject(Fault::new(
        "PUT",
        format!("/v1/session/renew/{}", fence.session),
        Action::Status(500),
    ));
    until(&mut a0_role, "a0 steps down", |r| !r.is_leader()).await;
    // A new generation is elected (either agent may win it).
    let deadline = tokio::time::Instant::now() + EVENTUALLY;
    let new_generation = loop {
        let g = a0.current().generation().or(a1.current().generation());
        if let Some(g) = g {
            break g;
        }
        assert!(tokio::time::Instant::now() < deadline, "no new leader");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(new_generation, 2);
    let (_tx, frozen) = watch::channel(led.clone());
    let stale = ConsulStore::new(sim.client(), keys(), frozen);
    let err = stale.put_database(&record("a", "1")).await.unwrap_err();
    assert!(matches!(err, StoreError::Fenced(_)), "{err:?}");
    assert!(
        StateStore::get_database(&stale, "a")
            .await
            .unwrap()
            .is_none(),
        "nothing written"
    );
    a0.resign().await;
    a1.resign().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_leader_while_consul_refuses_sessions_then_one_is_elected() {
    let sim = sim::start().await;
    sim.inject(Fault::new("PUT", "/v1/session/create", Action::Status(500)).times(6));
    let a0 = elector(&sim, "a0");
    let mut role = a0.role();
    let led = until(&mut role, "a0 leads once Consul recovers", Role::is_leader).await;
    assert_eq!(led.generation(), Some(1));
    assert_eq!(sim.state().faults_hit, 6);
    a0.resign().await;
}
