package nacos

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nacos-group/nacos-sdk-go/v2/common/constant"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"

	"github.com/sluice-go/sluice/datasource"
)

// DefaultReconcileInterval is how often a Source reads its config to catch
// a change whose notification was lost, unless WithReconcileInterval says
// otherwise.
const DefaultReconcileInterval = 30 * time.Second

// DefaultGroup is the group of a Source made with an empty group, Nacos's
// DEFAULT_GROUP.
const DefaultGroup = constant.DEFAULT_GROUP

// Option configures a Source.
type Option func(*Source)

// WithReconcileInterval sets how often Watch reads the config besides
// listening to it. It is the upper bound on how late Watch sees a change
// whose notification the SDK lost (see the package doc); it is also the
// pause between retries after a failed read, which start at 500 ms and
// double up to it. d <= 0 means DefaultReconcileInterval.
//
// Each reconcile and each change the SDK's listener reports costs Watch a
// GetConfig, and the SDK lets a process read one config at most 5 times a
// second (clients/config_client/limiter.go), its own reads included; a read
// over that limit fails and is retried. So an interval under a second or so
// buys nothing, and eats into what the listener's reads may use.
func WithReconcileInterval(d time.Duration) Option {
	return func(s *Source) {
		if d > 0 {
			s.interval = d
		}
	}
}

// Source follows one Nacos config: a data id in a group, in the namespace
// of its Client. It is a datasource.Source.
type Source struct {
	c        *Client
	dataID   string
	group    string
	interval time.Duration
}

var _ datasource.Source = (*Source)(nil)

// NewSource returns a Source for the config dataID in group (DefaultGroup
// if group is ""), read through c. It fails for a nil client or an empty
// data id. One Client runs at most one Watch per config at a time.
func NewSource(c *Client, dataID, group string, opts ...Option) (*Source, error) {
	if c == nil {
		return nil, errors.New("nacos: NewSource needs a client")
	}
	if dataID == "" {
		return nil, errors.New("nacos: NewSource needs a data id")
	}
	if group == "" {
		group = DefaultGroup
	}
	s := &Source{c: c, dataID: dataID, group: group, interval: DefaultReconcileInterval}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// String names the config: "nacos <namespace>/<group>/<dataId>", with
// "public" for the public namespace.
func (s *Source) String() string {
	ns := s.c.namespace
	if ns == "" {
		ns = "public"
	}
	return "nacos " + ns + "/" + s.group + "/" + s.dataID
}

// Watch reads the config and delivers it, then delivers each change until
// ctx is done, when it returns ctx.Err(). A config that does not exist
// (content "") is delivered as Update{Deleted: true}. Watch delivers only
// changes: a read that finds what it delivered last delivers nothing.
//
// Watch registers an SDK listener first; the SDK calls it from goroutines
// of its own, and it only tells Watch that the config changed. Watch then
// reads the config and delivers what the read finds, so every call to h is
// made from the goroutine that called Watch. The content the SDK hands the
// listener is never delivered: the SDK runs each call of the listener on a
// goroutine of its own, so that content may be older than what Watch has
// delivered already. Besides, Watch reads the config every reconcile
// interval (see WithReconcileInterval). A failed read, whether a listener's
// or a reconcile's, is reported to h.Error and retried after a pause that
// starts at 500 ms and doubles up to the reconcile interval, so a change
// the listener reported is delivered as soon as a read succeeds; Watch goes
// on. The SDK registers a new listener with the server on its next 5 s
// tick, so a change in the first seconds is seen by that round or the
// reconcile read, not pushed.
//
// Watch returns ErrWatched at once if the config is already watched through
// the same Client, ErrClosed when the Client is closed, and an error for a
// listener the SDK refuses. A read under way when ctx is done finishes first
// (within the client's timeout, and for a read the SDK could make on no
// connection, a dial of each server's gRPC port of up to a second). On return Watch has cancelled its
// listener; it starts no goroutine, and a late call of the listener by the
// SDK finds no Watch and returns at once.
func (s *Source) Watch(ctx context.Context, h datasource.Handler) error {
	key := s.dataID + "@@" + s.group
	w, err := s.c.register(key)
	if err != nil {
		return err
	}
	defer s.c.unregister(key, w)
	param := vo.ConfigParam{DataId: s.dataID, Group: s.group}
	listen := param
	listen.OnChange = s.c.listener(key)
	if err := s.c.sdk.ListenConfig(listen); err != nil {
		return fmt.Errorf("nacos: listen: %w", err) // the binding names the config
	}
	defer func() { _ = s.c.sdk.CancelListenConfig(param) }()

	var (
		delivered bool   // something was delivered
		last      string // what: content, "" for deleted
	)
	deliver := func(content string) {
		if delivered && content == last {
			return
		}
		delivered, last = true, content
		if content == "" {
			h.Update(datasource.Update{Deleted: true})
		} else {
			h.Update(datasource.Update{Data: []byte(content)})
		}
	}
	read := func() bool {
		content, err := s.c.sdk.GetConfig(param)
		if err != nil {
			h.Error(s.c.readError(err))
			return false
		}
		deliver(content)
		return true
	}

	const firstRetry = 500 * time.Millisecond
	retry := firstRetry
	next := func(ok bool) time.Duration { // the pause before the next read
		if ok {
			retry = firstRetry
			return s.interval
		}
		d := min(retry, s.interval)
		retry = min(2*retry, s.interval)
		return d
	}
	timer := time.NewTimer(next(read()))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.c.closing:
			return ErrClosed
		case <-timer.C:
			timer.Reset(next(read()))
		case <-w.hint:
			if !read() { // retry soon, not at the next reconcile
				timer.Reset(next(false))
			}
		}
	}
}
