package sentinel

import (
	"errors"

	"github.com/sluice-go/sluice/core/circuitbreaker"
	"github.com/sluice-go/sluice/core/flow"
	"github.com/sluice-go/sluice/core/hotspot"
	"github.com/sluice-go/sluice/core/isolation"
	"github.com/sluice-go/sluice/core/system"
)

// STUB: replaced by the real converters.
var errTODO = errors.New("sentinel: not yet")

func FlowRules(data []byte) ([]flow.Rule, error)                     { return nil, errTODO }
func IsolationRules(data []byte) ([]isolation.Rule, error)           { return nil, errTODO }
func CircuitBreakerRules(data []byte) ([]circuitbreaker.Rule, error) { return nil, errTODO }
func HotspotRules(data []byte) ([]hotspot.Rule, error)               { return nil, errTODO }
func SystemRules(data []byte) ([]system.Rule, error)                 { return nil, errTODO }
