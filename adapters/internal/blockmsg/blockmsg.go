// Package blockmsg words a block for the peer that was refused, as Sluice's
// adapters answer it (an HTTP body, a gRPC status message): the kind of
// rule only, never the resource, the rule's contents, the reason or the
// cause, which are for the service's own logs.
package blockmsg

import (
	"strings"

	"github.com/sluice-go/sluice/core/base"
)

// BlockedBy returns "blocked by a Flow rule", "blocked by an Isolation
// rule" and so on: the kind t names (t.String()), with its article.
func BlockedBy(t base.BlockType) string {
	if int(t) < len(phrases) {
		return phrases[t]
	}
	return phrase(t)
}

// phrases holds BlockedBy of each known block type, so that answering a
// block allocates nothing.
var phrases = func() (p [base.BlockTypeCustom + 1]string) {
	for t := range p {
		p[t] = phrase(base.BlockType(t))
	}
	return p
}()

func phrase(t base.BlockType) string {
	name := t.String()
	article := "a "
	if strings.ContainsRune("AEIOU", rune(name[0])) {
		article = "an "
	}
	return "blocked by " + article + name + " rule"
}
