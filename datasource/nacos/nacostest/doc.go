// Package nacostest runs a small Nacos 2.x config server in the process, for
// tests that drive the real nacos-sdk-go client without a Java server.
//
// The server speaks the config half of Nacos 2.x's real gRPC protocol, with
// the SDK's own generated service descriptors and message types (module
// github.com/nacos-group/nacos-sdk-go/v2, packages api/grpc and
// common/remote/rpc/...), so what goes over the wire is what a Nacos server
// sends and receives. On the unary Request service it answers
//
//   - ServerCheckRequest with a ServerCheckResponse carrying the connection id,
//   - HealthCheckRequest with a HealthCheckResponse,
//   - ConfigQueryRequest with a ConfigQueryResponse (content, md5,
//     lastModified), or errorCode 300 when the config does not exist,
//   - ConfigPublishRequest (honouring casMd5) and ConfigRemoveRequest,
//   - ConfigBatchListenRequest (listen true or false, with the client's md5s)
//     with a ConfigChangeBatchListenResponse listing the configs whose md5
//     differs,
//
// and anything else with an ErrorResponse. On the BiRequestStream service it
// takes the client's ConnectionSetupRequest, pushes a
// ConfigChangeNotifyRequest to every connection listening to a config when it
// changes, and reads (and discards) the client's acknowledgements.
//
// Beside gRPC it serves the HTTP API an operator uses, backed by the same
// store and triggering the same pushes:
//
//	GET    /nacos/v1/cs/configs?dataId=..&group=..[&tenant=..]  -> content, or 404
//	POST   /nacos/v1/cs/configs  (form: dataId, group, content[, tenant]) -> "true"
//	DELETE /nacos/v1/cs/configs?dataId=..&group=..[&tenant=..]  -> "true"
//	POST   /nacos/v1/auth/users/login (form: username, password) -> {"accessToken":..}
//
// An empty group means DEFAULT_GROUP; tenant is the namespace id, "" for the
// public namespace. Content can not be empty (Nacos stores no empty
// content), so a config either exists with some content or does not exist.
//
// The HTTP listener and the gRPC listener are on 127.0.0.1, on ephemeral
// ports that need not be 1000 apart; give the SDK both (see ServerConfig).
// What is left out: naming (service discovery), beta and tag configs,
// config search and history, cluster sync, encrypted configs.
package nacostest
