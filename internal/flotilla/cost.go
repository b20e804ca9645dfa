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

// Fargate's Linux list prices in us-east-1 (reference/aws-and-peers.md §A.8,
// from AWS's Fargate pricing page): ARM (Graviton) and x86.
var (
	FargateARMRates = Rates{VCPUHour: 0.03238, GBHour: 0.00356}
	FargateX86Rates = Rates{VCPUHour: 0.04048, GBHour: 0.004445}
)

// FargateSpotDiscount is what Fargate Spot takes off the on-demand price.
// AWS advertises "up to 70%" and Spot prices move with supply, so a Spot
// run's cost_usd is an estimate at that discount, not the bill.
const FargateSpotDiscount = 0.70

// FargateRates are the rates of a task on arch, on Spot capacity or not.
func FargateRates(arch string, spot bool) Rates {
	r := FargateX86Rates
	if arch == ArchARM {
		r = FargateARMRates
	}
	if spot {
		r.VCPUHour *= 1 - FargateSpotDiscount
		r.GBHour *= 1 - FargateSpotDiscount
	}
	return r
}

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
