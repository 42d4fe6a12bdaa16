// The peer for examples/ingest_peers.rs: Probot as people run it (`probot run`), with one
// handler for pull_request deliveries that does no work. Probot verifies the signature, parses
// the body and dispatches it; it stores nothing, so its figures are a floor for a webhook
// service, which sdl-gate is measured against while it also stores every delivery durably.
export default (app) => {
  app.on("pull_request", async () => {});
};
