// Package nacos is a datasource.Source that follows one Nacos config, on
// nacos-sdk-go v2 (Nacos 2.x's gRPC protocol).
//
//	c, err := nacos.NewClient(nacos.Config{Servers: []nacos.Server{{Addr: "127.0.0.1:8848"}}})
//	...
//	defer c.Close()
//	src, err := nacos.NewSource(c, "sluice-flow-rules", "DEFAULT_GROUP")
//	...
//	b, err := datasource.Start(ctx, eng, src, datasource.Config{Kind: datasource.Flow})
//
// A Source's Watch reads the config, delivers it, and delivers each change
// the SDK's listener reports. Because the SDK can miss a change notification
// that reaches it while one of its listen rounds is in progress (in
// clients/config_client/config_client.go, executeConfigListen marks every
// config it did not see changed as in sync with the server, overwriting the
// mark the push handler has just cleared, and then does not ask again for
// five minutes), Watch also reads the config every ReconcileInterval (30 s
// by default), which bounds how late such a lost change is seen.
//
// Nacos can not store empty content: the SDK reports a config that does not
// exist as content "", and Watch delivers that as datasource.Update{Deleted:
// true}. Nacos keeps no version the SDK exposes, so Update.Version is 0.
//
// A failed read is reported to the handler's Error with the servers it went
// to and what the SDK said, such as "nacos: read from 127.0.0.1:8848:
// client not connected, current status:STARTING"; the binding's
// datasource.SourceError names the config. The SDK does not say why it has
// no connection, so for that error the source dials each server's gRPC port
// and adds what it found: "; gRPC port 9848: connect: connection refused
// (nothing listens on that port)", a host not found, or "accepts
// connections". The error wraps the SDK's error and each dial's
// (errors.Is(err, syscall.ECONNREFUSED)).
//
// # Tests
//
// The tests drive the real SDK against package nacostest, an in-process
// server that speaks Nacos 2.x's config protocol over gRPC, on 127.0.0.1.
// When the environment variable NACOS_ADDR is set to the host:port (the HTTP
// port; gRPC at port + 1000) of a real Nacos 2.x server, the core scenarios
// run against it instead (NACOS_USERNAME and NACOS_PASSWORD, if set, are the
// credentials; scenarios that need the test server's hooks, such as a lost
// push or a restart, are skipped). They create configs with unique data ids
// in DEFAULT_GROUP of the public namespace and delete them afterwards.
package nacos
