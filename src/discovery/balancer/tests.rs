use super::*;
use crate::calls::settings::RetryBudget;
use crate::discovery::memory::MemoryRegistry;

/// A registry with metadata instances at 127.0.0.1:1 and 127.0.0.1:2.
async fn two_instances() -> Arc<MemoryRegistry> {
    let registry = Arc::new(MemoryRegistry::default());
    for (id, addr) in [("m-1", "127.0.0.1:1"), ("m-2", "127.0.0.1:2")] {
        registry.register(id, "metadata", addr).await.unwrap();
    }
    registry
}

#[tokio::test]
async fn no_instance_is_a_clear_error_and_connections_are_reused() {
    let registry = Arc::new(MemoryRegistry::default());
    let b = Balancer::new("metadata", registry.clone());
    let err = b.pick(&[]).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"no healthy instance of "metadata" in registry memory (in-process)"#
    );
    registry
        .register("m-1", "metadata", "127.0.0.1:1")
        .await
        .unwrap();
    registry
        .register("m-2", "metadata", "127.0.0.1:2")
        .await
        .unwrap();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..10 {
        seen.insert(b.pick(&[]).await.unwrap().0);
    }
    assert_eq!(seen.len(), 2, "round-robin reaches both");
    assert_eq!(b.connections(), 2, "one connection per instance");
    registry.deregister("m-1", "metadata").await.unwrap();
    // A fresh look (as on a retry) drops the departed instance's connection.
    let (addr, _) = b.pick(&["127.0.0.1:9".to_owned()]).await.unwrap();
    assert_eq!(addr, "127.0.0.1:2");
    assert_eq!(
        b.connections(),
        1,
        "a departed instance's connection is dropped"
    );
}

#[tokio::test]
async fn an_unavailable_instance_is_retried_on_another_then_skipped() {
    let b = Balancer::new("metadata", two_instances().await);
    let dead = "127.0.0.1:1";
    let attempts = Mutex::new(Vec::new());
    for _ in 0..20 {
        let served = b
            .call(|_channel, addr| {
                attempts.lock().unwrap().push(addr.to_owned());
                let result = if addr == dead {
                    Err(tonic::Status::unavailable("connection refused"))
                } else {
                    Ok(addr.to_owned())
                };
                async move { result }
            })
            .await
            .unwrap();
        assert_eq!(served, "127.0.0.1:2");
    }
    let attempts = attempts.into_inner().unwrap();
    let on_dead = attempts.iter().filter(|a| *a == dead).count();
    assert!(
        on_dead <= 1,
        "tried once at most, then skipped while the other serves: {attempts:?}"
    );
    assert_eq!(attempts.len(), 20 + on_dead);
}

#[tokio::test]
async fn calls_caught_on_a_hung_instance_retry_elsewhere_without_spending_the_budget() {
    let b = Arc::new(Balancer::with_settings(
        "metadata",
        two_instances().await,
        CallSettings {
            retry_budget: RetryBudget {
                max_tokens: 4.0,
                token_ratio: 0.1,
            },
            ..CallSettings::default()
        },
    ));
    let hung = "127.0.0.1:1";
    // Ten calls at once; those that land on the hung instance all fail a moment later,
    // after the first of them has marked it.
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let b = Arc::clone(&b);
        calls.spawn(async move {
            b.call(|_, addr| {
                let on_hung = addr == hung;
                let addr = addr.to_owned();
                async move {
                    if on_hung {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Err(tonic::Status::unavailable("no answer"))
                    } else {
                        Ok(addr)
                    }
                }
            })
            .await
        });
    }
    let answers = calls.join_all().await;
    assert!(
        answers
            .iter()
            .all(|a| matches!(a, Ok(addr) if addr == "127.0.0.1:2")),
        "{answers:?}"
    );
}

#[tokio::test]
async fn with_every_instance_ejected_calls_fail_at_once_saying_so() {
    let registry = Arc::new(MemoryRegistry::default());
    registry
        .register("m-1", "metadata", "127.0.0.1:1")
        .await
        .unwrap();
    let b = Balancer::with_settings(
        "metadata",
        registry,
        CallSettings {
            max_attempts: 1,
            ..CallSettings::default()
        },
    );
    let calls = AtomicUsize::new(0);
    let call = || {
        b.call(|_, _| {
            calls.fetch_add(1, Ordering::Relaxed);
            async { Err::<(), _>(tonic::Status::unavailable("connection refused")) }
        })
    };
    for _ in 0..5 {
        assert!(matches!(call().await, Err(CallError::Status { .. })));
    }
    let err = call().await.unwrap_err();
    assert!(
        matches!(
            &err,
            CallError::Discovery(DiscoveryError::AllEjected { instances: 1, .. })
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with(r#"every instance of "metadata" (1) is ejected after repeated failures"#),
        "{err}"
    );
    assert_eq!(calls.load(Ordering::Relaxed), 5, "no attempt once ejected");
}

#[tokio::test]
async fn an_ejected_instance_comes_back_once_it_answers_its_health_probe() {
    // A real gRPC health service on loopback stands for the instance.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (_reporter, health) = tonic_health::server::health_reporter();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(health)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let registry = Arc::new(MemoryRegistry::default());
    registry.register("m-1", "metadata", &addr).await.unwrap();
    let b = Balancer::new("metadata", registry.clone()).reporting_as("movie");
    let fail = || b.call(|_, _| async { Err::<(), _>(tonic::Status::unavailable("down")) });
    for _ in 0..5 {
        assert!(matches!(fail().await, Err(CallError::Status { .. })));
    }
    assert!(matches!(
        fail().await,
        Err(CallError::Discovery(DiscoveryError::AllEjected { .. }))
    ));
    // The report is sent aside: wait for it to arrive.
    let ejections = |count: usize| {
        let registry = Arc::clone(&registry);
        async move {
            loop {
                let listed = registry.instances().await.unwrap();
                if listed[0].ejections.len() == count {
                    return listed;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    let listed = tokio::time::timeout(Duration::from_secs(10), ejections(1))
        .await
        .expect("reported to the registry");
    assert!(listed[0].ejections[0].by.starts_with("movie (pid "));
    // With every instance out, it is probed within a second; SERVING brings it back.
    let back = async {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if let Ok(answer) = b
                .call(|_, addr| std::future::ready(Ok(addr.to_owned())))
                .await
            {
                return answer;
            }
        }
    };
    let answer = tokio::time::timeout(Duration::from_secs(10), back)
        .await
        .expect("restored after its probe");
    assert_eq!(answer, addr);
    tokio::time::timeout(Duration::from_secs(10), ejections(0))
        .await
        .expect("its return reported to the registry");
}

#[tokio::test]
async fn other_errors_are_not_retried() {
    let b = Balancer::new("metadata", two_instances().await);
    let calls = AtomicUsize::new(0);
    let result: Result<(), CallError> = b
        .call(|_, _| {
            calls.fetch_add(1, Ordering::Relaxed);
            async { Err(tonic::Status::not_found("movie \"1\" not found")) }
        })
        .await;
    assert!(
        matches!(result, Err(CallError::Status { status, .. }) if status.code() == tonic::Code::NotFound)
    );
    assert_eq!(calls.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn a_single_unavailable_instance_reports_its_own_failure() {
    let registry = Arc::new(MemoryRegistry::default());
    registry
        .register("m-1", "metadata", "127.0.0.1:1")
        .await
        .unwrap();
    let b = Balancer::new("metadata", registry);
    let result: Result<(), CallError> = b
        .call(|_, _| async { Err(tonic::Status::unavailable("connection refused")) })
        .await;
    match result {
        Err(CallError::Status { addr, status }) => {
            assert_eq!(addr, "127.0.0.1:1");
            assert_eq!(status.message(), "connection refused");
        }
        other => panic!("{other:?}"),
    }
}
