package etcd

// tracker remembers the last revision delivered and whether it was a
// deletion, and decides which states seen since are news.
type tracker struct {
	seen    bool  // something has been delivered
	rev     int64 // the revision of the last delivery
	deleted bool  // the last delivery was a deletion
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
