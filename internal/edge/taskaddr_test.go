package edge

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestTaskAddr(t *testing.T) {
	ecs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v4/abc/task" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(`{"Cluster":"c","Containers":[{"Name":"edge","Networks":[{"NetworkMode":"awsvpc","IPv4Addresses":["10.0.3.17"]}]}]}`))
	}))
	defer ecs.Close()
	empty := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"Containers":[{"Networks":[{"IPv4Addresses":[]}]}]}`))
	}))
	defer empty.Close()
	tests := []struct {
		name                        string
		advertise, listen, metadata string
		want                        string
		wantErr                     error
	}{
		{"advertised", "10.1.2.3:3102", ":3102", "", "10.1.2.3:3102", nil},
		{"listen names a host", "", "127.0.0.2:4000", "", "127.0.0.2:4000", nil},
		{"from ECS task metadata", "", ":3102", ecs.URL + "/v4/abc", "10.0.3.17:3102", nil},
		{"from ECS, listening on 0.0.0.0", "", "0.0.0.0:3102", ecs.URL + "/v4/abc", "10.0.3.17:3102", nil},
		{"every interface, off ECS", "", ":3102", "", "", ErrNoTaskAddr},
		{"random port", "", "[::]:0", ecs.URL + "/v4/abc", "", ErrNoTaskAddr},
		{"metadata without an address", "", ":3102", empty.URL, "", ErrNoTaskAddr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := TaskAddr(context.Background(), tt.advertise, tt.listen, tt.metadata, http.DefaultClient)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("TaskAddr = %q, %v; want %v", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("TaskAddr = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	for _, bad := range []string{"no-port", "10.0.0.1"} {
		if _, err := TaskAddr(context.Background(), bad, ":3102", "", http.DefaultClient); err == nil {
			t.Errorf("advertise %q accepted", bad)
		}
	}
	if _, err := TaskAddr(context.Background(), "", ":3102", ecs.URL+"/missing", http.DefaultClient); err == nil {
		t.Error("a metadata endpoint answering 404 gave an address")
	}
}
