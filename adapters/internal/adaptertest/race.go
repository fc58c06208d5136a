//go:build race

package adaptertest

// race is set when the race detector is on.
const race = true
