package sluice

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sync"

	"github.com/sluice-go/sluice/core/base"
	"github.com/sluice-go/sluice/core/flow"
	"github.com/sluice-go/sluice/core/isolation"
	"github.com/sluice-go/sluice/core/stat"
)

// Rules is a complete rule set, one slice per family. A nil or empty slice
// means no rules of that family.
type Rules struct {
	Flow      []flow.Rule      `json:"flow,omitempty"`
	Isolation []isolation.Rule `json:"isolation,omitempty"`
}

// LoadRules replaces every family of rules at once. Every rule is validated
// first: if any is invalid, nothing changes and the error (wrapping
// ErrInvalidRule, one *RuleError per bad rule, joined) names each bad rule
// and field. Rules equal to rules in force keep their state (windows,
// warm-up, throttling queue); changed rules start afresh.
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

// Rules returns a copy of the rules in force.
func (e *Engine) Rules() Rules {
	rs := e.rules.Load()
	return Rules{Flow: slices.Clone(rs.src.Flow), Isolation: slices.Clone(rs.src.Isolation)}
}

// ruleSet is an immutable compiled rule set, swapped in atomically.
type ruleSet struct {
	src       Rules // as loaded, copied
	flow      []*flowRule
	isolation []*isolationRule
}

// flowRule is a compiled flow rule with its controllers, one per resource
// it applies to, made on first use and kept across reloads of an equal rule.
type flowRule struct {
	rule        flow.Rule
	pattern     *regexp.Regexp
	controllers sync.Map // resource name -> *flow.Controller
}

type isolationRule struct {
	rule    isolation.Rule
	pattern *regexp.Regexp
}

func (e *Engine) load(change func(*Rules)) error {
	e.loadMu.Lock()
	defer e.loadMu.Unlock()
	old := e.rules.Load()
	next := old.src
	change(&next)
	next = Rules{Flow: slices.Clone(next.Flow), Isolation: slices.Clone(next.Isolation)}
	if err := validate(next); err != nil {
		return err
	}
	rs := &ruleSet{src: next}
	reuse := map[flow.Rule][]*flowRule{}
	for _, fr := range old.flow {
		reuse[fr.rule] = append(reuse[fr.rule], fr)
	}
	for _, r := range next.Flow {
		if prev := reuse[r]; len(prev) > 0 {
			rs.flow = append(rs.flow, prev[0])
			reuse[r] = prev[1:]
			continue
		}
		rs.flow = append(rs.flow, &flowRule{rule: r, pattern: mustPattern(r.Regex, r.Resource)})
	}
	for _, r := range next.Isolation {
		rs.isolation = append(rs.isolation, &isolationRule{rule: r, pattern: mustPattern(r.Regex, r.Resource)})
	}
	e.rules.Store(rs)
	e.log.Info("sluice: rules loaded", "flow", len(rs.flow), "isolation", len(rs.isolation))
	return nil
}

// validate checks every rule and joins the errors, each naming its rule's
// position.
func validate(r Rules) error {
	var errs []error
	add := func(i int, err error) {
		var re *base.RuleError
		if errors.As(err, &re) {
			re.Index = i
		}
		errs = append(errs, err)
	}
	for i := range r.Flow {
		if err := r.Flow[i].Validate(); err != nil {
			add(i, err)
		}
	}
	for i := range r.Isolation {
		if err := r.Isolation[i].Validate(); err != nil {
			add(i, err)
		}
	}
	return errors.Join(errs...)
}

// mustPattern compiles a validated pattern.
func mustPattern(regex bool, p string) *regexp.Regexp {
	if !regex {
		return nil
	}
	re, err := base.CompilePattern(p)
	if err != nil {
		panic(fmt.Sprintf("sluice: pattern %q passed validation but does not compile: %v", p, err))
	}
	return re
}

func applies(pattern *regexp.Regexp, resource, name string) bool {
	if pattern != nil {
		return pattern.MatchString(name)
	}
	return resource == name
}

// binding is the rules of one rule set that apply to one resource, resolved
// once per resource and rule set.
type binding struct {
	rules *ruleSet

	// isolation is the block error of the tightest isolation rule, or nil
	// if none applies; isolationLimit is its threshold.
	isolation      *BlockError
	isolationLimit int64

	flow []flowBinding
}

type flowBinding struct {
	c       *flow.Controller
	blocked *BlockError
}

// bind resolves the rules of rs that apply to r and stores the result on r.
func (e *Engine) bind(r *resource, rs *ruleSet) *binding {
	b := &binding{rules: rs}
	for _, ir := range rs.isolation {
		if !applies(ir.pattern, ir.rule.Resource, r.name) {
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
		if !applies(fr.pattern, fr.rule.Resource, r.name) {
			continue
		}
		c := e.controller(fr, r.name)
		b.flow = append(b.flow, flowBinding{c: c, blocked: &BlockError{Resource: r.name, Type: BlockTypeFlow,
			Rule: c.Rule(), Reason: flowReason(c.Rule())}})
	}
	r.bound.Store(b)
	return b
}

func (e *Engine) controller(fr *flowRule, name string) *flow.Controller {
	if c, ok := fr.controllers.Load(name); ok {
		return c.(*flow.Controller)
	}
	c := flow.NewController(fr.rule, flow.Env{
		RefWindow:   func(ref string) *stat.Window { return e.track(ref).node.Window() },
		MemoryUsage: e.memory.usage,
	})
	actual, _ := fr.controllers.LoadOrStore(name, c)
	return actual.(*flow.Controller)
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
