package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Context keys read from cdk.json (or `cdk synth -c key=value`). Tests pass
// the same keys in AppProps.Context.
const (
	ctxClusters         = "flotilla:clusters"           // JSON array of ClusterConfig
	ctxLambdasDir       = "flotilla:lambdas_dir"        // dir holding <fn>/bootstrap; relative to the repo root
	ctxWebDist          = "flotilla:web_dist"           // the built UI; relative to the repo root
	ctxLogRetentionDays = "flotilla:log_retention_days" // job log group retention
	ctxAuthDomainPrefix = "flotilla:auth_domain_prefix" // Cognito hosted UI domain prefix
	ctxCLICallbackURLs  = "flotilla:cli_callback_urls"  // loopback redirect URIs for `flotilla login`
	ctxRetainData       = "flotilla:retain_data"        // keep table, user pool and job logs on destroy
	ctxStage            = "flotilla:stage"              // names one deployment: stages live side by side in an account
	ctxAdminGroup       = "flotilla:admin_group"        // Cognito group whose members may change what others own
	ctxRunRetention     = "flotilla:run_retention_days" // days ended runs are kept (DynamoDB TTL); 0: for ever
	ctxJobRolePrefix    = "flotilla:job_role_prefix"    // name prefix of the IAM roles definitions may run as
	ctxNotifyFrom       = "flotilla:notify_from"        // SES-verified sender of notification e-mail (optional)
	ctxPaused           = "flotilla:paused"             // functions throttled, queue mappings off: for a data migration
)

// ClusterConfig is one entry of the "flotilla:clusters" context list.
// Without ClusterARN the stack creates a Fargate ECS cluster in its own VPC.
type ClusterConfig struct {
	Name       string `json:"name"`
	MaxRunning int    `json:"max_running"`
	LaunchType string `json:"launch_type"`
	// SpotFallback, on a FARGATE_SPOT cluster, names its on-demand twin in
	// the list: a run Spot interrupts twice continues there.
	SpotFallback string `json:"spot_fallback,omitempty"`

	// An existing ECS cluster. Subnets are then required, and either
	// SecurityGroups or VpcID (a security group with egress only is made there).
	ClusterARN     string   `json:"cluster_arn,omitempty"`
	VpcID          string   `json:"vpc_id,omitempty"`
	Subnets        []string `json:"subnets,omitempty"`
	SecurityGroups []string `json:"security_groups,omitempty"`
	AssignPublicIP *bool    `json:"assign_public_ip,omitempty"`
}

// Existing reports whether the cluster is managed outside this stack.
func (c ClusterConfig) Existing() bool { return c.ClusterARN != "" }

var (
	stageRE      = regexp.MustCompile(`^[a-z][a-z0-9]{0,11}$`)
	authDomainRE = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)
	// A role name's characters (IAM User Guide, "IAM identifiers"); at
	// least 4 of them, so a prefix cannot open PassRole to every role.
	jobRolePrefixRE = regexp.MustCompile(`^[\w+=,.@-]{4,45}$`)
	clusterNameRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)
	clusterARNRE    = regexp.MustCompile(`^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:cluster/([A-Za-z0-9_-]{1,255})$`)
)

var launchTypes = map[string]bool{"FARGATE": true, "FARGATE_SPOT": true, "EC2": true}

// ECSClusterName returns the name part of an existing cluster's ARN.
func (c ClusterConfig) ECSClusterName() string {
	m := clusterARNRE.FindStringSubmatch(c.ClusterARN)
	if m == nil {
		return ""
	}
	return m[1]
}

// ParseClusters decodes and validates the "flotilla:clusters" context value.
// The value is a JSON array when it comes from cdk.json and a string when it
// comes from `-c flotilla:clusters='[...]'`; both are accepted.
func ParseClusters(v any) ([]ClusterConfig, error) {
	if v == nil {
		return nil, fmt.Errorf("context %q is missing: list at least one cluster, e.g. [{\"name\":\"default\",\"max_running\":10,\"launch_type\":\"FARGATE\"}]", ctxClusters)
	}
	var raw []byte
	if s, ok := v.(string); ok {
		raw = []byte(s)
	} else {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("context %q: %w", ctxClusters, err)
		}
		raw = b
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	var cs []ClusterConfig
	if err := dec.Decode(&cs); err != nil {
		return nil, fmt.Errorf("context %q: %w", ctxClusters, err)
	}
	if len(cs) == 0 {
		return nil, fmt.Errorf("context %q: list at least one cluster", ctxClusters)
	}
	seen := map[string]bool{}
	for i := range cs {
		c := &cs[i]
		where := fmt.Sprintf("context %q[%d]", ctxClusters, i)
		if !clusterNameRE.MatchString(c.Name) {
			return nil, fmt.Errorf("%s: name %q must be 1-32 of a-z, 0-9 and -", where, c.Name)
		}
		if strings.HasSuffix(c.Name, "-dlq") {
			// Its queue, flotilla-<stage>-<name>.fifo, would be read as
			// another cluster's dead-letter queue (<name>-dlq.fifo) by
			// `flotilla doctor`, and could collide with one.
			return nil, fmt.Errorf("%s: name %q must not end in -dlq (the suffix of the dead-letter queues)", where, c.Name)
		}
		if seen[c.Name] {
			return nil, fmt.Errorf("%s: name %q is listed twice", where, c.Name)
		}
		seen[c.Name] = true
		if c.MaxRunning < 1 {
			return nil, fmt.Errorf("%s (%s): max_running must be at least 1", where, c.Name)
		}
		if c.LaunchType == "" {
			c.LaunchType = "FARGATE"
		}
		if !launchTypes[c.LaunchType] {
			return nil, fmt.Errorf("%s (%s): launch_type %q must be FARGATE, FARGATE_SPOT or EC2", where, c.Name, c.LaunchType)
		}
		if !c.Existing() {
			if c.LaunchType == "EC2" {
				return nil, fmt.Errorf("%s (%s): launch_type EC2 needs an existing cluster (cluster_arn): the stack creates Fargate clusters only", where, c.Name)
			}
			if c.VpcID != "" || len(c.Subnets) > 0 || len(c.SecurityGroups) > 0 {
				return nil, fmt.Errorf("%s (%s): vpc_id, subnets and security_groups apply only with cluster_arn", where, c.Name)
			}
			continue
		}
		if c.ECSClusterName() == "" {
			return nil, fmt.Errorf("%s (%s): cluster_arn %q is not an ECS cluster ARN (arn:aws:ecs:<region>:<account>:cluster/<name>)", where, c.Name, c.ClusterARN)
		}
		if len(c.Subnets) == 0 {
			return nil, fmt.Errorf("%s (%s): an existing cluster needs subnets for its tasks", where, c.Name)
		}
		if len(c.SecurityGroups) == 0 && c.VpcID == "" {
			return nil, fmt.Errorf("%s (%s): an existing cluster needs security_groups, or vpc_id to create one in", where, c.Name)
		}
	}
	for i, c := range cs {
		if c.SpotFallback == "" {
			continue
		}
		where := fmt.Sprintf("context %q[%d] (%s)", ctxClusters, i, c.Name)
		twin := slices.IndexFunc(cs, func(o ClusterConfig) bool { return o.Name == c.SpotFallback })
		switch {
		case c.LaunchType != "FARGATE_SPOT":
			return nil, fmt.Errorf("%s: spot_fallback applies to a FARGATE_SPOT cluster, not %s", where, c.LaunchType)
		case twin < 0:
			return nil, fmt.Errorf("%s: spot_fallback %q is not a cluster of the list", where, c.SpotFallback)
		case cs[twin].LaunchType == "FARGATE_SPOT":
			return nil, fmt.Errorf("%s: spot_fallback %q is a FARGATE_SPOT cluster too; name an on-demand one", where, c.SpotFallback)
		}
	}
	return cs, nil
}

// ClusterEnv is one element of FLOTILLA_CLUSTERS, the JSON the Lambdas read.
// It is kept short, because a function's whole environment is limited to
// 4 KB (Lambda quotas): queues and created clusters are named, not given by
// URL or ARN (FLOTILLA_QUEUE_URL_PREFIX completes the URL), and the subnets
// and security groups the created clusters share are in FLOTILLA_SUBNETS and
// FLOTILLA_SECURITY_GROUPS once. Only an existing cluster carries its own.
type ClusterEnv struct {
	Name           string   `json:"name"`
	MaxRunning     int      `json:"max_running"`
	Queue          string   `json:"queue,omitempty"`
	ECSCluster     string   `json:"ecs_cluster,omitempty"`
	LaunchType     string   `json:"launch_type,omitempty"`
	Subnets        []string `json:"subnets,omitempty"`
	SecurityGroups []string `json:"security_groups,omitempty"`
	AssignPublicIP bool     `json:"assign_public_ip,omitempty"`
	SpotFallback   string   `json:"spot_fallback,omitempty"`
}

// maxClustersEnvBytes is what FLOTILLA_CLUSTERS may take of a function's
// 4 KB environment (Lambda quotas: "Function environment variables, 4 KB,
// for all environment variables associated with the function, in total"):
// the other variables take at most about 1,900 bytes (the api function's) at their longest
// plausible deployed lengths (measured, and held to this budget, by
// TestTwentyClustersFitLambdaAndSQSLimits).
const maxClustersEnvBytes = 4096 - 2176

// clustersEnvBound is an upper bound of FLOTILLA_CLUSTERS' length for cs in
// a stack whose names start with prefix: what infra/stack.go writes, with
// a security group the stack would create counted at its longest id.
func clustersEnvBound(cs []ClusterConfig, prefix string) int {
	env := make([]ClusterEnv, 0, len(cs))
	for _, c := range cs {
		e := ClusterEnv{Name: c.Name, MaxRunning: c.MaxRunning, LaunchType: c.LaunchType, SpotFallback: c.SpotFallback}
		if c.Existing() {
			e.Queue, e.ECSCluster = queueName(prefix, c.Name, ""), c.ClusterARN
			e.Subnets, e.SecurityGroups, e.AssignPublicIP = c.Subnets, c.SecurityGroups, true
			if len(e.SecurityGroups) == 0 {
				e.SecurityGroups = []string{"sg-0123456789abcdef0"}
			}
		}
		env = append(env, e)
	}
	b, _ := json.Marshal(env)
	return len(b)
}
