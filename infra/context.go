package main

import (
	"errors"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"
)

// Defaults of the optional context keys.
const (
	defaultLambdasDir       = "build/lambdas"
	defaultWebDist          = "web/dist"
	defaultLogRetentionDays = 30
	defaultCLICallbackURL   = "http://localhost:8976/callback"
	defaultStage            = "prod"
	defaultAdminGroup       = "flotilla-admins"
	defaultJobRolePrefix    = "flotilla-job-" // the stage is appended: flotilla-job-prod-
)

// StackName is the CloudFormation stack of a stage: Flotilla-<stage>.
func StackName(stage string) string { return "Flotilla-" + stage }

// PropsFromContext reads the stack configuration from the app's context.
// Relative paths are taken from the repository root: the nearest directory
// at or above the working directory that holds cdk.json.
func PropsFromContext(app awscdk.App) (*StackProps, error) {
	get := func(key string) any { return app.Node().TryGetContext(jsii.String(key)) }
	str := func(key, def string) string {
		if s, ok := get(key).(string); ok && s != "" {
			return s
		}
		return def
	}
	clusters, err := ParseClusters(get(ctxClusters))
	if err != nil {
		return nil, err
	}
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(root, p)
	}

	days := defaultLogRetentionDays
	switch v := get(ctxLogRetentionDays).(type) {
	case nil:
	case float64:
		days = int(v)
	case string: // from -c on the command line
		if days, err = strconv.Atoi(v); err != nil {
			return nil, fmt.Errorf("context %q: %w", ctxLogRetentionDays, err)
		}
	default:
		return nil, fmt.Errorf("context %q: want a number of days", ctxLogRetentionDays)
	}
	retention, ok := retentionDays[days]
	if !ok {
		return nil, fmt.Errorf("context %q: %d is not a CloudWatch Logs retention (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)", ctxLogRetentionDays, days)
	}

	runDays := 0
	switch v := get(ctxRunRetention).(type) {
	case nil:
	case float64:
		runDays = int(v)
		if float64(runDays) != v {
			return nil, fmt.Errorf("context %q: want a whole number of days", ctxRunRetention)
		}
	case string: // from -c on the command line
		if runDays, err = strconv.Atoi(v); err != nil {
			return nil, fmt.Errorf("context %q: %w", ctxRunRetention, err)
		}
	default:
		return nil, fmt.Errorf("context %q: want a number of days", ctxRunRetention)
	}
	if runDays < 0 {
		return nil, fmt.Errorf("context %q: %d days: want 0 (keep runs for ever) or more", ctxRunRetention, runDays)
	}

	callbacks := []string{defaultCLICallbackURL}
	if v, ok := get(ctxCLICallbackURLs).([]any); ok {
		callbacks = callbacks[:0]
		for _, u := range v {
			s, ok := u.(string)
			if !ok {
				return nil, fmt.Errorf("context %q: want a list of URLs", ctxCLICallbackURLs)
			}
			callbacks = append(callbacks, s)
		}
	}

	retain := true
	switch v := get(ctxRetainData).(type) {
	case nil:
	case bool:
		retain = v
	case string:
		retain = v != "false"
	}

	// Paused (flotilla:paused, false by default) holds every function
	// still while `flotilla migrate` copies the table (docs/deploy.md,
	// Upgrade): "true" or true pauses, anything else does not.
	paused := false
	switch v := get(ctxPaused).(type) {
	case bool:
		paused = v
	case string:
		paused = v == "true"
	}

	stage := str(ctxStage, defaultStage)
	if !stageRE.MatchString(stage) {
		return nil, fmt.Errorf("context %q: %q must be 1-12 lower-case letters and digits, starting with a letter", ctxStage, stage)
	}
	if n := clustersEnvBound(clusters, "flotilla-"+stage); n > maxClustersEnvBytes {
		return nil, fmt.Errorf("context %q: the clusters take about %d bytes of each function's environment (FLOTILLA_CLUSTERS), over the %d Lambda's 4 KB limit leaves for them; existing clusters carry their ARN, subnets and security groups: list fewer subnets, share security groups, or let the stack create the clusters", ctxClusters, n, maxClustersEnvBytes)
	}
	// Per stage, like every other scope: a dev deployment must not be able
	// to run a job as a prod job's role. A prefix from cdk.json is shared by
	// the stages, so the stage is appended to it.
	jobRolePrefix := jobRolePrefixOf(str(ctxJobRolePrefix, defaultJobRolePrefix), stage)
	if !jobRolePrefixRE.MatchString(jobRolePrefix) {
		return nil, fmt.Errorf("context %q: %q must be 4-32 characters of an IAM role name (letters, digits and +=,.@_-)", ctxJobRolePrefix, jobRolePrefix)
	}
	notifyFrom := str(ctxNotifyFrom, "")
	if a, err := mail.ParseAddress(notifyFrom); notifyFrom != "" && (err != nil || a.Address != notifyFrom) {
		return nil, fmt.Errorf("context %q: %q must be one e-mail address, like jobs@example.com (verified in SES, or its domain)", ctxNotifyFrom, notifyFrom)
	}
	// A prefix from cdk.json is shared by every stage, so the stage is
	// appended: two stages never ask for the same Cognito domain.
	authDomain := str(ctxAuthDomainPrefix, "")
	if authDomain != "" {
		authDomain += "-" + stage
		if !authDomainRE.MatchString(authDomain) || strings.Contains(authDomain, "aws") || strings.Contains(authDomain, "amazon") || strings.Contains(authDomain, "cognito") {
			return nil, fmt.Errorf("context %q: %q (with the stage) must be at most 63 lower-case letters, digits and hyphens, not starting or ending with a hyphen, and must not contain aws, amazon or cognito (Amazon Cognito Developer Guide, \"Using the Amazon Cognito domain\")", ctxAuthDomainPrefix, authDomain)
		}
	}

	return &StackProps{
		StackProps: awscdk.StackProps{
			Description: jsii.String("Flotilla: serverless job runner (table, queues, functions, HTTP API, UI, ECS cluster)"),
		},
		Clusters:         clusters,
		LambdasDir:       abs(str(ctxLambdasDir, defaultLambdasDir)),
		WebDist:          abs(str(ctxWebDist, defaultWebDist)),
		LogRetention:     retention,
		RunRetentionDays: runDays,
		AuthDomainPrefix: authDomain,
		CLICallbackURLs:  callbacks,
		RetainData:       retain,
		Paused:           paused,
		Stage:            stage,
		AdminGroup:       str(ctxAdminGroup, defaultAdminGroup),
		JobRolePrefix:    jobRolePrefix,
		NotifyFrom:       notifyFrom,
	}, nil
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "cdk.json")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no cdk.json at or above the working directory: run from the repository")
		}
		dir = parent
	}
}

var retentionDays = map[int]awslogs.RetentionDays{
	1: awslogs.RetentionDays_ONE_DAY, 3: awslogs.RetentionDays_THREE_DAYS, 5: awslogs.RetentionDays_FIVE_DAYS,
	7: awslogs.RetentionDays_ONE_WEEK, 14: awslogs.RetentionDays_TWO_WEEKS, 30: awslogs.RetentionDays_ONE_MONTH,
	60: awslogs.RetentionDays_TWO_MONTHS, 90: awslogs.RetentionDays_THREE_MONTHS, 120: awslogs.RetentionDays_FOUR_MONTHS,
	150: awslogs.RetentionDays_FIVE_MONTHS, 180: awslogs.RetentionDays_SIX_MONTHS, 365: awslogs.RetentionDays_ONE_YEAR,
	400: awslogs.RetentionDays_THIRTEEN_MONTHS, 545: awslogs.RetentionDays_EIGHTEEN_MONTHS, 731: awslogs.RetentionDays_TWO_YEARS,
	1096: awslogs.RetentionDays_THREE_YEARS, 1827: awslogs.RetentionDays_FIVE_YEARS, 2192: awslogs.RetentionDays_SIX_YEARS,
	2557: awslogs.RetentionDays_SEVEN_YEARS, 2922: awslogs.RetentionDays_EIGHT_YEARS, 3288: awslogs.RetentionDays_NINE_YEARS,
	3653: awslogs.RetentionDays_TEN_YEARS,
}

// jobRolePrefixOf is a stage's job role prefix: the configured one with the
// stage and a hyphen appended (flotilla-job- → flotilla-job-prod-).
func jobRolePrefixOf(prefix, stage string) string { return prefix + stage + "-" }
