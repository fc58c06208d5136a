package datasource

import "context"

// Update is one delivery from a Source: the key's whole payload, or the
// news that the key is gone.
type Update struct {
	// Data is the payload. It is nil when Deleted. The handler must not
	// modify it.
	Data []byte
	// Deleted says the key no longer exists.
	Deleted bool
	// Version is the store's version of the key (etcd's mod revision), or 0
	// where the store keeps none. It is for logs and Stats. A source never
	// delivers a version older than one it has delivered, unless the store
	// itself went back (a cluster restored or replaced): it then reports
	// that to Handler.Error first.
	Version int64
}

// Handler receives what a Source delivers.
type Handler interface {
	// Update delivers the key's state. The source calls it once with the
	// state it first reads, then once per change it sees.
	Update(Update)
	// Error reports trouble the source recovers from by itself: a read
	// that failed, a lost connection. The source goes on trying.
	Error(error)
}

// Source follows one key of a store.
type Source interface {
	// Watch delivers the key's state to h, then each change, until ctx is
	// done. Every call to h is made from the goroutine that called Watch,
	// one at a time, in order, so a change is never delivered before one
	// that came earlier. Watch returns ctx.Err() once ctx is done, or an
	// error of its own for a fault it cannot recover from (a source
	// configured wrongly); once it has returned it makes no more calls
	// to h and no goroutine it started runs.
	Watch(ctx context.Context, h Handler) error
	// String names the store and key ("file rules.json", "etcd
	// /sluice/flow") in errors and logs.
	String() string
}
