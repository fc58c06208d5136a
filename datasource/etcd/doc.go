// Package etcd is a datasource.Source that follows one etcd key, with the
// etcd v3 client (go.etcd.io/etcd/client/v3).
//
//	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"127.0.0.1:2379"}})
//	...
//	defer cli.Close()
//	b, err := datasource.Start(ctx, eng, etcd.New(cli, "/sluice/rules/flow"),
//		datasource.Config{Kind: datasource.Flow})
//
// Watch reads the key, delivers what it finds (datasource.Update with
// Deleted set if the key does not exist), then watches the key from the
// revision after that read, and delivers each put and delete.
//
// Every delivery carries a revision as its Version: the key's mod revision
// for a put, the revision of the deletion for a delete, and for a read that
// found no key, the store's revision at that read. A source never delivers
// a revision that is not newer than the last one it delivered, so
// duplicate and out-of-date events are dropped, and a deletion is not
// delivered twice in a row. The one exception is a store whose revision
// went back: a read from another cluster than before (its header's
// cluster ID differs: a cluster replaced by a new one), or at a revision
// below the last one delivered (a cluster restored from a snapshot without
// --bump-revision). The source reports an error wrapping
// ErrRevisionWentBack to the handler's Error, forgets what it delivered,
// delivers what that read found as new (its Version may be lower than the
// last), and watches from that read's revision on. Only reads detect it,
// so with resync reads turned off it is noticed only at the next read
// after trouble.
//
// Trouble is reported to the handler's Error and recovered from by reading
// the key again and watching it anew: a watch whose history was compacted
// away (rpctypes.ErrCompacted), a watch the server cancelled or that lost
// its leader (the watch requires one, clientv3.WithRequireLeader, so a
// member cut off from its cluster does not hang it silently), a watch
// channel that closed, and a read that failed or took longer than the
// request timeout. The client re-establishes a watch by itself while a
// server is merely unreachable, so, besides watching, the source reads
// the key again at each resync interval: a read that fails says the server
// is unreachable (and starts the recovery), and a read that finds a newer
// revision delivers it, so a change is never missed for longer than that.
// A read that no server answers within the request timeout fails in the
// client with a bare context.DeadlineExceeded, whatever the reason, so the
// source then dials each of the client's endpoints itself and reports what
// it found, with the endpoints: "etcd: read from 127.0.0.1:2379: no answer
// within 5s: connect: connection refused (nothing listens on that port)";
// an unknown host ("lookup ...: no such host"); or "the port accepts
// connections" (an etcd that is hung, or something else on that port). The
// error wraps the dial's error (errors.Is(err, syscall.ECONNREFUSED);
// errors.As(err, new(*net.DNSError))) and context.DeadlineExceeded. A
// binding wraps each in a datasource.SourceError, which names the key.
// Retries wait with exponential backoff (DefaultMinBackoff doubling up to
// DefaultMaxBackoff, with jitter), reset once a watch is established again.
//
// The caller owns the client: the source never closes it, and uses it
// only during Watch. Everything Watch starts, including the client's watch
// stream, has stopped by the time it returns.
package etcd
