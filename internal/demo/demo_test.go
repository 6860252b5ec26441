package demo

import "testing"

func TestNames(t *testing.T) {
	tests := []struct {
		name      string
		i         int
		user, dev string
	}{
		{"first", 1, "user0001", "device0001"},
		{"four digits", 9999, "user9999", "device9999"},
		{"five digits", 12345, "user12345", "device12345"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := UserID(tt.i); got != tt.user {
				t.Errorf("UserID(%d) = %q, want %q", tt.i, got, tt.user)
			}
			if got := DeviceID(tt.i); got != tt.dev {
				t.Errorf("DeviceID(%d) = %q, want %q", tt.i, got, tt.dev)
			}
			if i, ok := Index(tt.user); !ok || i != tt.i {
				t.Errorf("Index(%q) = %d, %v; want %d", tt.user, i, ok, tt.i)
			}
			if d, ok := DeviceFor(tt.user); !ok || d != tt.dev {
				t.Errorf("DeviceFor(%q) = %q, %v; want %q", tt.user, d, ok, tt.dev)
			}
		})
	}
}

func TestIndexRefusesOtherIDs(t *testing.T) {
	for _, id := range []string{"", "user", "user1", "user001", "user00001", "user0000", "alice", "device0001", "user-001", "user00a1", "User0001"} {
		t.Run(id, func(t *testing.T) {
			if i, ok := Index(id); ok {
				t.Errorf("Index(%q) = %d, true; want false", id, i)
			}
			if d, ok := DeviceFor(id); ok {
				t.Errorf("DeviceFor(%q) = %q, true; want false", id, d)
			}
		})
	}
}
