package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/readyz":
			w.Write([]byte("ready\n"))
		case "/draining":
			http.Error(w, "not ready: draining", http.StatusServiceUnavailable)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	tests := []struct {
		name    string
		args    []string
		wantErr string // empty: success
	}{
		{"ready", []string{srv.URL + "/readyz"}, ""},
		{"not ready", []string{srv.URL + "/draining"}, "503 Service Unavailable: not ready: draining"},
		{"not found", []string{srv.URL + "/nope"}, "404 Not Found"},
		{"nobody listening", []string{"http://" + closedAddr(t) + "/readyz"}, "connection refused"},
		{"no url", nil, "usage"},
		{"two urls", []string{srv.URL, srv.URL}, "usage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(tt.args)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("run = %v, want success", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("run = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
