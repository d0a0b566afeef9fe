use planledger_tests::backend_tests;

backend_tests! {
    async fn health_answers_ok(app: TestApp) {
        assert_eq!(app.get("/healthz", None).await.ok()["status"], "ok");
        assert_eq!(app.get("/readyz", None).await.ok()["status"], "ready");
    }
}
