package etcd

import (
	"errors"
	"fmt"
)

// ErrRevisionWentBack is wrapped by the error a Watch reports to its
// handler when a read shows the store's revision went back: the read came
// from another cluster than the reads before it (a cluster replaced by a
// new one), or its revision is below the last one delivered (a cluster
// restored from a snapshot without --bump-revision). The source then
// delivers that read's state as new, so its Version may be lower than the
// one delivered before.
var ErrRevisionWentBack = errors.New("etcd: the store's revision went back")

// tracker remembers the last revision delivered and whether it was a
// deletion, and decides which states seen since are news. It also
// remembers the cluster its reads came from.
type tracker struct {
	seen    bool   // something has been delivered
	rev     int64  // the revision of the last delivery
	deleted bool   // the last delivery was a deletion
	cluster uint64 // the cluster ID of the last read; 0 before the first
}

// next reports whether a state of the key seen at revision rev (deleted or
// not) is to be delivered, and if so records it as the last delivery. The
// first state is always delivered; after that, only a revision newer than
// the last delivered one, and a deletion only if the key existed at the
// last delivery. A deletion that is not delivered because the key was
// already gone still moves the last revision on.
func (t *tracker) next(rev int64, deleted bool) bool {
	if t.seen && (rev <= t.rev || deleted && t.deleted) {
		t.rev = max(t.rev, rev)
		return false
	}
	t.seen, t.rev, t.deleted = true, rev, deleted
	return true
}

// check is given the header of a read, before the read's state is given to
// next: the cluster ID and the store's revision at the read. If the
// cluster is not the one of the reads before, or the revision is below the
// last one delivered, the store went back: check forgets what was
// delivered, so that the read's state is delivered as new, and returns an
// error wrapping ErrRevisionWentBack that says why. It remembers the
// cluster in any case.
func (t *tracker) check(cluster uint64, rev int64) error {
	var err error
	switch {
	case t.cluster != 0 && cluster != t.cluster:
		err = fmt.Errorf("%w: the key was read from cluster %x, no longer from cluster %x; delivering its state at revision %d as new",
			ErrRevisionWentBack, cluster, t.cluster, rev)
	case t.seen && rev < t.rev:
		err = fmt.Errorf("%w: the key was read at revision %d, below revision %d already delivered; delivering its state as new",
			ErrRevisionWentBack, rev, t.rev)
	}
	if err != nil {
		*t = tracker{}
	}
	t.cluster = cluster
	return err
}
