//! Quotas a runtime holds vigies to, on a real SQLite file.

use vigy_api::{self as api, ErrorCode, VigyService};
use vigy_runtime::{DEFAULT_MAX_VIGIES, RuntimeHandle, Scope};
use vigy_types::VigyError;

use crate::support::vigy;

#[tokio::test(flavor = "multi_thread")]
async fn a_runtime_should_refuse_one_vigy_more_than_its_quota() {
    assert_eq!(DEFAULT_MAX_VIGIES, 10_000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.db");
    let rt = RuntimeHandle::builder().path(&path).scope(Scope::Nothing).max_vigies(3).open().await.unwrap();
    for name in ["a", "b", "c"] {
        rt.register_or_update(vigy(name, "(vigy-noop)", 1_000)).await.unwrap();
    }
    let err = rt.register_or_update(vigy("d", "(vigy-noop)", 1_000)).await.unwrap_err();
    assert_eq!(err.to_string(), "quota exceeded: vigies: 3 vigies are registered, the limit is 3");
    assert!(matches!(err, vigy_runtime::RuntimeError::Invalid(VigyError::QuotaExceeded { quota: "vigies", .. })));
    // Updating a registered vigy is not one more.
    rt.register_or_update(vigy("a", "(vigy-pull)", 1_000)).await.unwrap();
    // Through the service it is an invalid argument, and nothing was stored.
    let request = api::RegisterVigyRequest {
        body: api::RegisterVigy {
            name: "e".into(),
            program: "(vigy-noop)".into(),
            tick_interval_ms: Some(1_000),
            labels: None,
            ..Default::default()
        },
    };
    let refused = VigyService::register_vigy(&rt, request).await.unwrap_err();
    assert_eq!(refused.code(), ErrorCode::InvalidArgument);
    assert!(refused.message().contains("quota exceeded: vigies"), "{}", refused.message());
    assert_eq!(rt.list(&Default::default()).await.unwrap().len(), 3);
    // Deleting one makes room.
    rt.delete(rt.resolve("b").await.unwrap().id).await.unwrap();
    rt.register_or_update(vigy("d", "(vigy-noop)", 1_000)).await.unwrap();
    rt.shutdown().await;
    // Reopened, the runtime counts what is stored.
    let again = RuntimeHandle::builder().path(&path).scope(Scope::Nothing).max_vigies(3).open().await.unwrap();
    assert!(again.register_or_update(vigy("f", "(vigy-noop)", 1_000)).await.is_err());
    again.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_registration_with_65_labels_should_be_refused_as_an_invalid_argument() {
    let rt = RuntimeHandle::builder().scope(Scope::Nothing).open().await.unwrap();
    let labels = (0..65).map(|i| (format!("k{i}"), "v".to_owned())).collect();
    let request = api::RegisterVigyRequest {
        body: api::RegisterVigy {
            name: "many".into(),
            program: "(vigy-noop)".into(),
            tick_interval_ms: Some(1_000),
            labels: Some(labels),
            ..Default::default()
        },
    };
    let refused = VigyService::register_vigy(&rt, request).await.unwrap_err();
    assert_eq!(refused.code(), ErrorCode::InvalidArgument);
    assert!(refused.message().contains("at most 64 labels"), "{}", refused.message());
    rt.shutdown().await;
}
