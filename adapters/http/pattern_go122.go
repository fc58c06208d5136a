//go:build !go1.23

package sluicehttp

import "net/http"

// requestPattern returns "": before Go 1.23, http.Request has no Pattern.
func requestPattern(*http.Request) string { return "" }

func setRequestPattern(*http.Request, string) {}
