//go:build go1.23

package sluicehttp

import "net/http"

// requestPattern returns the ServeMux pattern that matched r, if any.
func requestPattern(r *http.Request) string { return r.Pattern }

// setRequestPattern records the pattern a ServeMux will match r with, so
// that a resource extractor sees it before the mux sets it itself.
func setRequestPattern(r *http.Request, pattern string) { r.Pattern = pattern }
