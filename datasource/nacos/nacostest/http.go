package nacostest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
)

// httpHandler serves the operator's HTTP API (Nacos's v1 open API, the
// config and login parts).
func (s *Server) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/nacos/v1/cs/configs", s.serveConfigs)
	mux.HandleFunc("/nacos/v1/auth/users/login", s.serveLogin)
	mux.HandleFunc("/nacos/v1/auth/login", s.serveLogin)
	return mux
}

// params merges the query and, for POST, PUT and PATCH, a form body (as
// Request.ParseForm does). A DELETE's parameters are read from the query
// only, as Nacos's HTTP API takes them (curl -X DELETE '...?dataId=...').
func params(r *http.Request) (url.Values, error) {
	if err := r.ParseForm(); err != nil {
		return nil, err
	}
	return r.Form, nil
}

func (s *Server) serveConfigs(w http.ResponseWriter, r *http.Request) {
	v, err := params(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if !s.loggedIn(v.Get("accessToken")) {
		http.Error(w, "access denied: no valid accessToken", http.StatusForbidden)
		return
	}
	k, err := mkKey(v.Get("tenant"), v.Get("dataId"), v.Get("group"))
	if err != nil {
		http.Error(w, "caused: Required parameter 'dataId' is not present", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain;charset=UTF-8")
	switch r.Method {
	case http.MethodGet:
		s.mu.Lock()
		e, found := s.store[k]
		s.mu.Unlock()
		if !found {
			http.Error(w, "config data not exist", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-MD5", e.md5)
		_, _ = io.WriteString(w, e.content)
	case http.MethodPost:
		content := v.Get("content")
		if content == "" {
			http.Error(w, "caused: Required parameter 'content' is not present", http.StatusBadRequest)
			return
		}
		s.put(k, content)
		_, _ = io.WriteString(w, "true")
	case http.MethodDelete:
		s.remove(k)
		_, _ = io.WriteString(w, "true")
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func (s *Server) serveLogin(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	v, err := params(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if s.user == "" {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"accessToken":"","tokenTtl":18000,"globalAdmin":true}`)
		return
	}
	if v.Get("username") != s.user || v.Get("password") != s.pass {
		http.Error(w, "unknown user!", http.StatusForbidden)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"accessToken": s.token, "tokenTtl": 18000, "globalAdmin": true, "username": s.user,
	})
}
