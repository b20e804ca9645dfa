package flotilla

import (
	"math"
	"time"
)

// Rates price compute per vCPU-hour and per GB-hour.
type Rates struct {
	VCPUHour float64 `json:"vcpu_hour_usd"`
	GBHour   float64 `json:"gb_hour_usd"`
}

// FargateARMRates are the Fargate Linux/ARM list prices in us-east-1
// (reference/aws-and-peers.md §A.8).
var FargateARMRates = Rates{VCPUHour: 0.03238, GBHour: 0.00356}

// Cost prices cpu units and MiB of memory held for d, billed the way Fargate
// bills: per second, with a one-minute minimum.
func (r Rates) Cost(cpu, memoryMiB int, d time.Duration) float64 {
	secs := math.Ceil(d.Seconds())
	if secs < 60 {
		secs = 60
	}
	hours := secs / 3600
	usd := (float64(cpu)/1024*r.VCPUHour + float64(memoryMiB)/1024*r.GBHour) * hours
	return math.Round(usd*1e6) / 1e6
}
