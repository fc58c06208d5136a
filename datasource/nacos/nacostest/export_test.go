package nacostest

// OnQuery makes the server call f, on the request's goroutine, before it
// answers each ConfigQueryRequest (nil: no call).
func (s *Server) OnQuery(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onQuery = f
}
