package flotilla

import "time"

// Engine kinds a cluster can run on.
const (
	EngineLocal   = "local"
	EngineDocker  = "docker"
	EngineFargate = "FARGATE"
	EngineEC2     = "EC2"
)

// Cluster is configured, not created by the API: where runs execute and how
// many may hold a slot at once.
type Cluster struct {
	Name string `json:"name"`
	// MaxRunning is the admission limit: PENDING + RUNNING runs.
	MaxRunning int `json:"max_running"`
	// MaxRunningPerOwner caps one owner's share (0: no cap).
	MaxRunningPerOwner int `json:"max_running_per_owner,omitempty"`
	// QueueTimeout fails a run that waited longer (0: DefaultQueueTimeout).
	QueueTimeout time.Duration `json:"-"`
	// LaunchType is FARGATE, EC2 or local.
	LaunchType string `json:"launch_type,omitempty"`
	// SpotFallback names the on-demand twin of a Fargate Spot cluster: a
	// run whose task Spot reclaimed SpotFallbackAfter times continues there.
	SpotFallback string `json:"spot_fallback,omitempty"`
}

// SpotFallbackAfter is how many Spot interruptions of one run move it to
// its cluster's SpotFallback.
const SpotFallbackAfter = 2

// DefaultQueueTimeout is how long a run may wait in its queue.
const DefaultQueueTimeout = 24 * time.Hour

// EffectiveQueueTimeout returns the queue timeout with its default.
func (c Cluster) EffectiveQueueTimeout() time.Duration {
	if c.QueueTimeout > 0 {
		return c.QueueTimeout
	}
	return DefaultQueueTimeout
}

// ClusterStats is a cluster's configuration and current load.
type ClusterStats struct {
	Name       string `json:"name"`
	MaxRunning int    `json:"max_running"`
	Queued     int    `json:"queued"`
	Running    int    `json:"running"`
	LaunchType string `json:"launch_type,omitempty"`
	// SpotFallback is the on-demand twin of a Fargate Spot cluster.
	SpotFallback string `json:"spot_fallback,omitempty"`
}

// Usage is what a store knows of a cluster's load: runs waiting and runs
// holding a slot, in all and per owner.
type Usage struct {
	Queued       int
	Running      int
	RunningOwner map[string]int
}
