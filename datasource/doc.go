// Package datasource feeds rules from outside the process into an Engine.
//
// A Source follows one key of a store (a file, an etcd key, a Nacos config)
// and delivers its bytes, or "deleted", each time they change. Start binds a
// source to an engine: each payload is decoded (see Decode) as one rule
// family or a whole sluice.Rules document, in Sluice's JSON or YAML or in
// Sentinel Go's rule JSON, and loaded.
//
// A bad payload never takes protection down: invalid JSON, a wrong type or
// an invalid rule is reported (Config.OnError, the log, Stats) and the rules
// in force stay in force. An empty array clears its family. A deleted key
// keeps the last rules unless Config.ClearOnDelete says otherwise; a key
// missing at the first read makes Binding.Wait return an error wrapping
// ErrNotFound, and its rules load once it exists.
//
// The format is Config.Format, or with the zero value Auto the one the
// source suggests (the file source: from the extension .json, .yaml or
// .yml), else JSON.
//
// The sources live in their own packages: datasource/file here, and
// datasource/etcd and datasource/nacos in modules of their own.
package datasource
