// Package sluice keeps a service standing under load. Name the pieces of
// work to protect (a route, a call to a dependency), load rules for them,
// and guard each call with Engine.Entry and Permit.Exit, or Engine.Do:
//
//	eng := sluice.New()
//	defer eng.Close()
//	err := eng.LoadRules(sluice.Rules{
//		Flow:      []flow.Rule{{Resource: "GET /orders", Threshold: 100}},
//		Isolation: []isolation.Rule{{Resource: "GET /orders", Threshold: 20}},
//	})
//	p, err := eng.Entry(ctx, "GET /orders", sluice.WithTrafficType(sluice.Inbound))
//	if err != nil { // a *sluice.BlockError: errors.Is(err, sluice.ErrBlocked)
//		return err
//	}
//	defer p.Exit()
//	if err := serve(ctx); err != nil {
//		p.SetError(err) // counts for circuit breakers
//	}
//
// Each entry is checked, in this order, against the rule families of
// Rules, each in a package of its own:
//
//   - system (core/system): adaptive protection of the whole service, for
//     Inbound entries only: blocks, or with BBR admits only what the
//     service has shown it completes, while CPU, memory, load, inbound
//     response time, concurrency or QPS is over a trigger;
//   - isolation (core/isolation): a cap on a resource's calls in flight;
//   - flow (core/flow): QPS limits, rejecting the excess or spacing entries
//     in a queue (Throttling, which waits on the engine's clock and honours
//     the context), with warm-up, memory-adaptive thresholds and
//     associated resources;
//   - hotspot (core/hotspot): limits per value of an argument (per user,
//     per item), over a bounded set of values;
//   - circuit breakers (core/circuitbreaker): slow-call ratio, error ratio
//     and error count, with half-open probes;
//   - custom checks (WithChecker).
//
// Rules are plain structs, validated whole before they replace the rules
// in force (LoadRules, or one family with LoadFlowRules and the like); in
// JSON and YAML, enums are names and durations Go duration strings.
// Package datasource pushes them from a file, etcd or Nacos; the adapters
// (adapters/http, and adapters/gin and adapters/grpc in modules of their
// own) guard servers and clients in one line. Engine.Stats and
// Engine.SystemStats read the live statistics.
//
// The package-level functions act on Default(), an engine that needs no
// set-up.
package sluice
