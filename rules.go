package sluice

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/sluice-go/sluice/core/base"
	"github.com/sluice-go/sluice/core/circuitbreaker"
	"github.com/sluice-go/sluice/core/flow"
	"github.com/sluice-go/sluice/core/hotspot"
	"github.com/sluice-go/sluice/core/isolation"
	"github.com/sluice-go/sluice/core/stat"
	"github.com/sluice-go/sluice/core/system"
)

// Rules is a complete rule set, one slice per family. A nil or empty slice
// means no rules of that family.
type Rules struct {
	// Flow holds the QPS rules. JSON/YAML key: flow, an array of
	// flow.Rule objects.
	Flow []flow.Rule `json:"flow,omitempty"`
	// Isolation holds the concurrency rules. JSON/YAML key: isolation, an
	// array of isolation.Rule objects.
	Isolation []isolation.Rule `json:"isolation,omitempty"`
	// CircuitBreaker holds the circuit-breaker rules. JSON/YAML key:
	// circuitBreaker, an array of circuitbreaker.Rule objects.
	CircuitBreaker []circuitbreaker.Rule `json:"circuitBreaker,omitempty"`
	// Hotspot holds the hot-parameter rules. JSON/YAML key: hotspot, an
	// array of hotspot.Rule objects.
	Hotspot []hotspot.Rule `json:"hotspot,omitempty"`
	// System rules protect the whole service and apply to Inbound entries
	// only; see package system. JSON/YAML key: system, an array of
	// system.Rule objects.
	System []system.Rule `json:"system,omitempty"`
}

// UnmarshalJSON reads a rule set as strictly as each rule: keys match
// exactly and once, and an error names the family, the rule and the key.
func (r *Rules) UnmarshalJSON(b []byte) error {
	type plain Rules
	return base.DecodeStrict(b, (*plain)(r))
}

// LoadRules replaces every family of rules at once. Every rule is validated
// first: if any is invalid, nothing changes and the error (wrapping
// ErrInvalidRule, one *RuleError per bad rule, joined) names each bad rule
// and field. Rules equal to rules in force keep their state (windows,
// warm-up, throttling queue, breaker state); changed rules start afresh.
func (e *Engine) LoadRules(r Rules) error {
	return e.load(func(cur *Rules) { *cur = r })
}

// LoadFlowRules replaces the flow rules, leaving the other families as they
// are; see LoadRules.
func (e *Engine) LoadFlowRules(rules []flow.Rule) error {
	return e.load(func(cur *Rules) { cur.Flow = rules })
}

// LoadIsolationRules replaces the isolation rules, leaving the other
// families as they are; see LoadRules.
func (e *Engine) LoadIsolationRules(rules []isolation.Rule) error {
	return e.load(func(cur *Rules) { cur.Isolation = rules })
}

// LoadCircuitBreakerRules replaces the circuit-breaker rules, leaving the
// other families as they are; see LoadRules.
func (e *Engine) LoadCircuitBreakerRules(rules []circuitbreaker.Rule) error {
	return e.load(func(cur *Rules) { cur.CircuitBreaker = rules })
}

// LoadHotspotRules replaces the hotspot rules, leaving the other families
// as they are; see LoadRules.
func (e *Engine) LoadHotspotRules(rules []hotspot.Rule) error {
	return e.load(func(cur *Rules) { cur.Hotspot = rules })
}

// LoadSystemRules replaces the system rules, leaving the other families as
// they are; see LoadRules. System rules apply to Inbound entries only. While
// rules on Load, CPUUsage or MemoryUsage are loaded, the engine samples
// those metrics on a goroutine of its own (see WithSystemSampleInterval),
// taking the first sample before LoadSystemRules returns; loading rules
// without them, or Close, stops it.
func (e *Engine) LoadSystemRules(rules []system.Rule) error {
	return e.load(func(cur *Rules) { cur.System = rules })
}

// Rules returns a copy of the rules in force.
func (e *Engine) Rules() Rules { return e.rules.Load().src.clone() }

func (r Rules) clone() Rules {
	hot := slices.Clone(r.Hotspot)
	for i := range hot {
		hot[i].SpecificItems = slices.Clone(hot[i].SpecificItems)
	}
	return Rules{Flow: slices.Clone(r.Flow), Isolation: slices.Clone(r.Isolation),
		CircuitBreaker: slices.Clone(r.CircuitBreaker), Hotspot: hot, System: slices.Clone(r.System)}
}

// ruleSet is an immutable compiled rule set, swapped in atomically.
type ruleSet struct {
	src Rules // as loaded, copied
	// names holds every resource named exactly by a rule (Resource of a
	// non-regex rule, RefResource): the engine tracks them past its bound.
	names     map[string]struct{}
	flow      []*compiledRule[flow.Rule, *flow.Controller]
	isolation []*compiledRule[isolation.Rule, struct{}]
	breakers  []*compiledRule[circuitbreaker.Rule, *circuitbreaker.Breaker]
	hotspots  []*compiledRule[hotspot.Rule, *hotspot.Limiter]
	system    []systemBinding // templates: their block errors name no resource
}

// compiledRule is a rule with its compiled pattern and its per-resource
// state (a flow controller, a breaker), made on first use and kept across
// reloads of an equal rule.
type compiledRule[R any, S any] struct {
	rule      R
	pattern   *regexp.Regexp
	instances sync.Map // resource name -> S
}

// instance returns the rule's state for resource name, making it if needed.
func (c *compiledRule[R, S]) instance(name string, make func() S) S {
	if v, ok := c.instances.Load(name); ok {
		return v.(S)
	}
	v, _ := c.instances.LoadOrStore(name, make())
	return v.(S)
}

func (c *compiledRule[R, S]) applies(resource, name string) bool {
	if c.pattern != nil {
		return c.pattern.MatchString(name)
	}
	return resource == name
}

// compile compiles rules, reusing the compiled rule (and so its state) of
// each rule equal to one in old.
func compile[R comparable, S any](old []*compiledRule[R, S], rules []R, pattern func(*R) (string, bool)) []*compiledRule[R, S] {
	return compileBy(old, rules, func(r R) R { return r }, pattern)
}

// compileBy is compile for rules that are not comparable: key says when two
// are equal.
func compileBy[R any, K comparable, S any](old []*compiledRule[R, S], rules []R, key func(R) K,
	pattern func(*R) (string, bool)) []*compiledRule[R, S] {
	reuse := map[K][]*compiledRule[R, S]{}
	for _, c := range old {
		k := key(c.rule)
		reuse[k] = append(reuse[k], c)
	}
	out := make([]*compiledRule[R, S], 0, len(rules))
	for _, r := range rules {
		if prev := reuse[key(r)]; len(prev) > 0 {
			out = append(out, prev[0])
			reuse[key(r)] = prev[1:]
			continue
		}
		c := &compiledRule[R, S]{rule: r}
		if p, regex := pattern(&r); regex {
			c.pattern = mustPattern(p)
		}
		out = append(out, c)
	}
	return out
}

func (e *Engine) load(change func(*Rules)) error {
	e.loadMu.Lock()
	defer e.loadMu.Unlock()
	old := e.rules.Load()
	next := old.src
	change(&next)
	next = next.clone()
	if err := validate(next); err != nil {
		e.ruleRejections.Add(1)
		return err
	}
	e.ruleLoads.Add(1)
	rs := &ruleSet{
		src:       next,
		flow:      compile(old.flow, next.Flow, func(r *flow.Rule) (string, bool) { return r.Resource, r.Regex }),
		isolation: compile(old.isolation, next.Isolation, func(r *isolation.Rule) (string, bool) { return r.Resource, r.Regex }),
		breakers: compile(old.breakers, next.CircuitBreaker,
			func(r *circuitbreaker.Rule) (string, bool) { return r.Resource, r.Regex }),
		hotspots: compileBy(old.hotspots, next.Hotspot, hotspotKey,
			func(r *hotspot.Rule) (string, bool) { return r.Resource, r.Regex }),
	}
	rs.system = compileSystem(next.System)
	rs.names = ruleNames(next)
	e.rules.Store(rs)
	e.sampler.run(slices.ContainsFunc(next.System, func(r system.Rule) bool { return sampled(r.MetricType) }))
	e.log.Info("sluice: rules loaded", "flow", len(rs.flow), "isolation", len(rs.isolation),
		"circuitBreaker", len(rs.breakers), "hotspot", len(rs.hotspots), "system", len(rs.system))
	return nil
}

// hotspotKey identifies a hotspot rule by its contents (its SpecificItems
// make it incomparable): the Go syntax of its fields, with each item's
// value type, so that 42 and 42.0 differ.
func hotspotKey(r hotspot.Rule) string {
	items := r.SpecificItems
	r.SpecificItems = nil
	key := fmt.Sprintf("%#v", r)
	for _, it := range items {
		key += fmt.Sprintf("|%T %#v %v", it.Value, it.Value, it.Threshold)
	}
	return key
}

func ruleNames(r Rules) map[string]struct{} {
	names := map[string]struct{}{}
	for _, f := range r.Flow {
		if !f.Regex {
			names[f.Resource] = struct{}{}
		}
	}
	for _, i := range r.Isolation {
		if !i.Regex {
			names[i.Resource] = struct{}{}
		}
	}
	for _, c := range r.CircuitBreaker {
		if !c.Regex {
			names[c.Resource] = struct{}{}
		}
	}
	for _, h := range r.Hotspot {
		if !h.Regex {
			names[h.Resource] = struct{}{}
		}
	}
	return names
}

// validate checks every rule and joins the errors, each naming its rule's
// position.
func validate(r Rules) error {
	var errs []error
	check := func(i int, err error) {
		if err == nil {
			return
		}
		var re *base.RuleError
		if errors.As(err, &re) {
			re.Index = i
		}
		errs = append(errs, err)
	}
	for i := range r.Flow {
		check(i, r.Flow[i].Validate())
	}
	for i := range r.Isolation {
		check(i, r.Isolation[i].Validate())
	}
	for i := range r.CircuitBreaker {
		check(i, r.CircuitBreaker[i].Validate())
	}
	for i := range r.Hotspot {
		check(i, r.Hotspot[i].Validate())
	}
	for i := range r.System {
		check(i, r.System[i].Validate())
	}
	return errors.Join(errs...)
}

// mustPattern compiles a validated pattern.
func mustPattern(p string) *regexp.Regexp {
	re, err := base.CompilePattern(p)
	if err != nil {
		panic(fmt.Sprintf("sluice: pattern %q passed validation but does not compile: %v", p, err))
	}
	return re
}

// binding is the rules of one rule set that apply to one resource, resolved
// once per resource and rule set.
type binding struct {
	rules *ruleSet

	// isolation is the block error of the tightest isolation rule, or nil
	// if none applies; isolationLimit is its threshold.
	isolation      *BlockError
	isolationLimit int64

	system   []systemBinding
	flow     []flowBinding
	hotspots []hotspotBinding
	breakers []breakerBinding

	// coarse says an entry reads the engine's coarse clock: there is one
	// (WithCoarseClock) and no rule of the binding decides on fine time
	// (Throttling spacing, a slow-call breaker's MaxAllowedRT, a window
	// not much longer than the coarse clock's step); coarseInbound says so
	// for an Inbound entry, which AvgRT and BBR system rules also rule out.
	coarse, coarseInbound bool
}

// coarseSteps is how many steps of the coarse clock a rule's window must
// span for entries to read the coarse clock: a window only a few steps
// long would lose whole windows of permits to a reading a step behind.
const coarseSteps = 10

// useCoarseClock works out b.coarse and b.coarseInbound for an engine whose
// coarse clock steps every step.
func (b *binding) useCoarseClock(step time.Duration) {
	short := func(d time.Duration) bool { return d < coarseSteps*step }
	precise := false
	for _, f := range b.flow {
		r := f.c.Rule()
		precise = precise || r.ControlBehavior == flow.Throttling || short(r.Interval())
	}
	for _, h := range b.hotspots {
		r := h.l.Rule()
		precise = precise || r.MetricType == hotspot.QPS && (r.ControlBehavior == hotspot.Throttling || short(r.Window()))
	}
	for _, c := range b.breakers {
		r := c.b.Rule()
		precise = precise || r.Strategy == circuitbreaker.SlowRequestRatio || short(r.Interval())
	}
	preciseInbound := precise
	for _, s := range b.system {
		preciseInbound = preciseInbound || s.rule.MetricType == system.AvgRT || s.rule.Strategy == system.BBR
	}
	b.coarse, b.coarseInbound = !precise, !preciseInbound
}

type hotspotBinding struct {
	l       *hotspot.Limiter
	blocked *BlockError
}

type flowBinding struct {
	c       *flow.Controller
	blocked *BlockError
}

type breakerBinding struct {
	b *circuitbreaker.Breaker
	// open and probing are the block errors for the Open state and for a
	// half-open breaker whose probe slots are all taken.
	open, probing *BlockError
}

// bind resolves the rules of rs that apply to r and stores the result on r.
func (e *Engine) bind(r *resource, rs *ruleSet) *binding {
	b := &binding{rules: rs}
	e.bindSystem(b, r.name)
	for _, ir := range rs.isolation {
		if !ir.applies(ir.rule.Resource, r.name) {
			continue
		}
		if b.isolation == nil || ir.rule.Threshold < b.isolationLimit {
			rule := ir.rule
			b.isolationLimit = rule.Threshold
			b.isolation = &BlockError{Resource: r.name, Type: BlockTypeIsolation, Rule: &rule,
				Reason: fmt.Sprintf("%d entries in flight", rule.Threshold)}
		}
	}
	for _, fr := range rs.flow {
		if !fr.applies(fr.rule.Resource, r.name) {
			continue
		}
		c := fr.instance(r.name, func() *flow.Controller {
			return flow.NewController(fr.rule, flow.Env{
				RefNode:     func(ref string) *stat.Node { return e.track(ref).node },
				MemoryUsage: e.memory.usage,
			})
		})
		var retry time.Duration
		if c.Rule().ControlBehavior == flow.Reject {
			retry = c.Rule().Interval()
		}
		b.flow = append(b.flow, flowBinding{c: c, blocked: &BlockError{Resource: r.name, Type: BlockTypeFlow,
			Rule: c.Rule(), Reason: flowReason(c.Rule()), RetryAfter: retry}})
	}
	for _, hr := range rs.hotspots {
		if !hr.applies(hr.rule.Resource, r.name) {
			continue
		}
		l := hr.instance(r.name, func() *hotspot.Limiter { return hotspot.NewLimiter(hr.rule) })
		var retry time.Duration
		if l.Rule().MetricType == hotspot.QPS && l.Rule().ControlBehavior == hotspot.Reject {
			retry = l.Rule().Window()
		}
		b.hotspots = append(b.hotspots, hotspotBinding{l: l, blocked: &BlockError{Resource: r.name,
			Type: BlockTypeHotspot, Rule: l.Rule(), Reason: hotspotReason(l.Rule()), RetryAfter: retry}})
	}
	for _, cr := range rs.breakers {
		if !cr.applies(cr.rule.Resource, r.name) {
			continue
		}
		br := cr.instance(r.name, func() *circuitbreaker.Breaker {
			return circuitbreaker.NewBreaker(cr.rule, r.name, e.listeners.notify)
		})
		b.breakers = append(b.breakers, breakerBinding{b: br,
			open: &BlockError{Resource: r.name, Type: BlockTypeCircuitBreaker, Rule: br.Rule(),
				Reason: fmt.Sprintf("circuit open (%v)", br.Rule().Strategy), RetryAfter: br.Rule().RetryTimeout},
			probing: &BlockError{Resource: r.name, Type: BlockTypeCircuitBreaker, Rule: br.Rule(),
				Reason: fmt.Sprintf("circuit half-open, probes in flight (%v)", br.Rule().Strategy)}})
	}
	if e.coarse != nil {
		b.useCoarseClock(e.coarse.Resolution())
	}
	r.bound.Store(b)
	return b
}

func hotspotReason(r *hotspot.Rule) string {
	param := fmt.Sprintf("argument %d", r.ParamIndex)
	if r.ParamKey != "" {
		param = fmt.Sprintf("attachment %q", r.ParamKey)
	}
	switch {
	case r.MetricType == hotspot.Concurrency:
		return fmt.Sprintf("%s: in-flight limit per value reached", param)
	case r.ControlBehavior == hotspot.Throttling:
		return fmt.Sprintf("%s: queueing time per value would exceed %v", param, r.MaxQueueingTime)
	}
	return fmt.Sprintf("%s: limit per value reached (%v per %v)", param, r.Threshold, r.Window())
}

func flowReason(r *flow.Rule) string {
	switch {
	case r.RelationStrategy == flow.AssociatedResource:
		return fmt.Sprintf("associated resource %q over %v per %v", r.RefResource, r.Threshold, r.Interval())
	case r.ControlBehavior == flow.Throttling:
		return fmt.Sprintf("queueing time would exceed %v", r.MaxQueueingTime)
	case r.Strategy == flow.MemoryAdaptive:
		return fmt.Sprintf("memory-adaptive threshold reached (per %v)", r.Interval())
	case r.Strategy == flow.WarmUp:
		return fmt.Sprintf("warm-up threshold reached (up to %v per %v)", r.Threshold, r.Interval())
	}
	return fmt.Sprintf("%v per %v reached", r.Threshold, r.Interval())
}
