package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/collabgw/collabgw/internal/manifest"
)

// EnvECSMetadata is the variable the ECS agent sets to the task metadata
// endpoint (version 4) in every container it starts.
const EnvECSMetadata = "ECS_CONTAINER_METADATA_URI_V4"

// ErrNoTaskAddr means the task-to-task link is on but no address other
// tasks can reach it at could be found.
var ErrNoTaskAddr = errors.New("edge: no address other edge tasks can reach this task at")

// metadataTimeout bounds the read of the ECS task metadata endpoint, a
// local link-local call that answers in milliseconds.
const metadataTimeout = 5 * time.Second

// TaskAddr finds the address other edge tasks reach this task's
// task-to-task link at, which its heartbeat stores in its lease: the
// configured advertise address if set; else the peer listen address when
// it names a host; else, on ECS, the task's own IPv4 address from the task
// metadata endpoint with the listen port. metadataURI is the value of
// ECS_CONTAINER_METADATA_URI_V4 (empty off ECS).
func TaskAddr(ctx context.Context, advertise, peerListen, metadataURI string, client *http.Client) (string, error) {
	if advertise != "" {
		if _, _, err := net.SplitHostPort(advertise); err != nil {
			return "", fmt.Errorf("%s=%q: %w", manifest.EnvPeerAdvertiseAddr, advertise, err)
		}
		return advertise, nil
	}
	host, port, err := net.SplitHostPort(peerListen)
	if err != nil {
		return "", fmt.Errorf("%s=%q: %w", manifest.EnvPeerAddr, peerListen, err)
	}
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		return peerListen, nil
	}
	if port == "0" {
		return "", fmt.Errorf("%w: the peer port is chosen at random; set %s", ErrNoTaskAddr, manifest.EnvPeerAdvertiseAddr)
	}
	if metadataURI == "" {
		return "", fmt.Errorf("%w: %s listens on every interface and %s is unset (not on ECS); set %s",
			ErrNoTaskAddr, manifest.EnvPeerAddr, EnvECSMetadata, manifest.EnvPeerAdvertiseAddr)
	}
	ip, err := ecsTaskIP(ctx, metadataURI, client)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(ip, port), nil
}

// ecsTaskIP reads the task's first IPv4 address (its ENI's, under awsvpc
// networking, which Fargate always uses) from the task metadata endpoint.
func ecsTaskIP(ctx context.Context, metadataURI string, client *http.Client) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, metadataTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metadataURI+"/task", nil)
	if err != nil {
		return "", fmt.Errorf("edge: task metadata: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("edge: task metadata: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("edge: task metadata answered %s", resp.Status)
	}
	var task struct {
		Containers []struct {
			Networks []struct {
				IPv4Addresses []string `json:"IPv4Addresses"`
			} `json:"Networks"`
		} `json:"Containers"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&task); err != nil {
		return "", fmt.Errorf("edge: task metadata: %w", err)
	}
	for _, c := range task.Containers {
		for _, n := range c.Networks {
			for _, a := range n.IPv4Addresses {
				if ip := net.ParseIP(a); ip != nil && ip.To4() != nil && !ip.IsLoopback() {
					return a, nil
				}
			}
		}
	}
	return "", fmt.Errorf("%w: the task metadata lists no IPv4 address", ErrNoTaskAddr)
}
