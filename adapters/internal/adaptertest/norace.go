//go:build !race

package adaptertest

const race = false
