package stat

import _ "unsafe" // for go:linkname

// procPin and procUnpin pin the goroutine to its processor and return the
// processor's id, as sync.Pool does: the one cheap way to find which core's
// stripe to use. The runtime keeps them linkable for this use
// (go.dev/issue/67401 lists them among the symbols it will not break).
//
//go:linkname procPin runtime.procPin
func procPin() int

//go:linkname procUnpin runtime.procUnpin
func procUnpin()
