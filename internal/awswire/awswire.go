// Package awswire wires Flotilla's AWS adapters from the environment: one
// Config read from FLOTILLA_* variables (the contract infra/access.go sets on
// every Lambda), and Build, which makes the SDK clients once and returns the
// adapters and a ready runs.Service. The Lambdas and `flotilla serve` in
// hybrid mode share it, so AWS is wired in one place.
//
// Optional endpoint overrides point each client at an emulator or a fake
// (minidyn, fauxqs, the awsfake servers); with them, set
// FLOTILLA_AWS_STATIC_CREDENTIALS=1 so no real credentials are looked for.
package awswire

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/flotilla-run/flotilla/internal/awsbus"
	"github.com/flotilla-run/flotilla/internal/awsclient"
	"github.com/flotilla-run/flotilla/internal/awsdynamodb"
	"github.com/flotilla-run/flotilla/internal/awsecs"
	"github.com/flotilla-run/flotilla/internal/awsevents"
	"github.com/flotilla-run/flotilla/internal/awssqs"
	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/runs"
)

// The defaults of the log group and the schedule group: the same as
// awslogs.DefaultLogGroup and awsscheduler.DefaultGroup (a test checks),
// written here so that functions which need neither adapter do not link
// their SDK services.
const (
	DefaultLogGroup      = "/flotilla/runs"
	DefaultScheduleGroup = "flotilla"
)

// The environment variables FromEnv reads.
const (
	EnvTableName            = "FLOTILLA_TABLE_NAME"
	EnvClusters             = "FLOTILLA_CLUSTERS"
	EnvLogGroup             = "FLOTILLA_LOG_GROUP"
	EnvTaskExecutionRoleARN = "FLOTILLA_TASK_EXECUTION_ROLE_ARN"
	EnvTaskRoleARN          = "FLOTILLA_TASK_ROLE_ARN"
	EnvScheduleGroup        = "FLOTILLA_SCHEDULE_GROUP"
	EnvSchedulerTargetARN   = "FLOTILLA_SCHEDULER_TARGET_ARN"
	EnvSchedulerRoleARN     = "FLOTILLA_SCHEDULER_ROLE_ARN"
	EnvScheduleDLQARN       = "FLOTILLA_SCHEDULE_DLQ_ARN"
	EnvSecretsPrefix        = "FLOTILLA_SECRETS_PREFIX"
	EnvJobRolePrefix        = "FLOTILLA_JOB_ROLE_PREFIX"
	EnvTaskFamilyPrefix     = "FLOTILLA_TASK_FAMILY_PREFIX"
	EnvUserPoolID           = "FLOTILLA_USER_POOL_ID"
	EnvCognitoEndpoint      = "FLOTILLA_COGNITO_ENDPOINT"
	// The shared parts of FLOTILLA_CLUSTERS, so that its entries stay
	// short (a Lambda's whole environment is limited to 4 KB): the queue URL
	// of a cluster that names only its queue is EnvQueueURLPrefix + queue,
	// and a cluster that names no subnets or security groups uses these.
	EnvQueueURLPrefix = "FLOTILLA_QUEUE_URL_PREFIX"
	EnvSubnets        = "FLOTILLA_SUBNETS"
	EnvSecurityGroups = "FLOTILLA_SECURITY_GROUPS"
	EnvAssignPublicIP = "FLOTILLA_ASSIGN_PUBLIC_IP"
	// EnvNamePrefix names what a deployment creates per cluster: a cluster
	// entry without queue or ecs_cluster has the queue
	// <prefix>-<name>.fifo and the ECS cluster <prefix>-<name>.
	EnvNamePrefix = "FLOTILLA_NAME_PREFIX"

	EnvDynamoDBEndpoint  = "FLOTILLA_DYNAMODB_ENDPOINT"
	EnvSQSEndpoint       = "FLOTILLA_SQS_ENDPOINT"
	EnvECSEndpoint       = "FLOTILLA_ECS_ENDPOINT"
	EnvLogsEndpoint      = "FLOTILLA_LOGS_ENDPOINT"
	EnvSchedulerEndpoint = "FLOTILLA_SCHEDULER_ENDPOINT"
	EnvEventsEndpoint    = "FLOTILLA_EVENTBRIDGE_ENDPOINT"
	// The notifier's: where webhook keys and e-mail go (endpoints for
	// emulators), and the verified SES sender (unset: no e-mail).
	EnvSSMEndpoint            = "FLOTILLA_SSM_ENDPOINT"
	EnvSecretsManagerEndpoint = "FLOTILLA_SECRETSMANAGER_ENDPOINT"
	EnvSESEndpoint            = "FLOTILLA_SES_ENDPOINT"
	EnvNotifyFrom             = "FLOTILLA_NOTIFY_FROM"
	// EnvEventBus names the EventBridge bus run status changes are put on
	// ("default" for the account's default bus); unset: none are published.
	EnvEventBus = "FLOTILLA_EVENT_BUS"
	// EnvUIURL is the web UI's address, for the links in what is published.
	EnvUIURL = "FLOTILLA_UI_URL"
	// EnvAccountID is the deployment's AWS account (for checks of the ARNs
	// definitions name).
	EnvAccountID         = "FLOTILLA_ACCOUNT_ID"
	EnvStaticCredentials = "FLOTILLA_AWS_STATIC_CREDENTIALS"
	EnvPutOnRemove       = "FLOTILLA_DYNAMODB_PUT_ON_REMOVE"
	// EnvRunRetentionDays is how many days ended runs are kept before
	// DynamoDB's TTL deletes them (0 or unset: for ever). The stack sets it
	// from cdk.json's flotilla:run_retention_days, with the table's TTL.
	EnvRunRetentionDays = "FLOTILLA_RUN_RETENTION_DAYS"
	// EnvIAMRecord names a folder where a Lambda records the IAM requests
	// of its AWS calls (tests only; see awsclient.Recorder).
	EnvIAMRecord = "FLOTILLA_IAM_RECORD"
)

// Config is everything the AWS wiring needs. FromEnv fills it; the zero
// value of an optional field means its documented default.
type Config struct {
	// TableName is the DynamoDB table (FLOTILLA_TABLE_NAME; required).
	TableName string
	// Clusters are the Flotilla clusters, in order; the first is the
	// default cluster (FLOTILLA_CLUSTERS, a JSON array; at least one).
	Clusters []Cluster
	// LogGroup is the jobs' awslogs group (FLOTILLA_LOG_GROUP; /flotilla/runs).
	LogGroup string
	// TaskExecutionRoleARN lets ECS pull images and write logs
	// (FLOTILLA_TASK_EXECUTION_ROLE_ARN); TaskRoleARN is the jobs' own role
	// (FLOTILLA_TASK_ROLE_ARN). Both optional.
	TaskExecutionRoleARN string
	TaskRoleARN          string
	// ScheduleGroup is the EventBridge Scheduler group (FLOTILLA_SCHEDULE_GROUP;
	// flotilla). SchedulerTargetARN and SchedulerRoleARN
	// (FLOTILLA_SCHEDULER_TARGET_ARN, FLOTILLA_SCHEDULER_ROLE_ARN) are what
	// schedules invoke and as whom; without both, Build makes no Scheduler.
	ScheduleGroup      string
	SchedulerTargetARN string
	SchedulerRoleARN   string
	// ScheduleDLQARN is the SQS queue a schedule's invocation goes to when
	// EventBridge Scheduler gives up delivering it (FLOTILLA_SCHEDULE_DLQ_ARN;
	// optional).
	ScheduleDLQARN string
	// SecretsPrefix is the name prefix of the SSM parameters and Secrets
	// Manager secrets jobs may reference (FLOTILLA_SECRETS_PREFIX, e.g.
	// flotilla/prod/; empty allows any): definitions and launches outside
	// it are refused with a field error instead of failing in ECS.
	SecretsPrefix string
	// JobRolePrefix is the name prefix of the roles a definition may name
	// as its task_role_arn (FLOTILLA_JOB_ROLE_PREFIX, e.g. flotilla-job-;
	// empty allows any): the functions may pass only those to ECS.
	JobRolePrefix string
	// TaskFamilyPrefix starts the ECS task definition families the
	// executors register (FLOTILLA_TASK_FAMILY_PREFIX; flotilla-). A
	// deployment's stage sets it, and its IAM scope is the same prefix.
	TaskFamilyPrefix string
	// UserPoolID is the Cognito user pool of the deployment's members
	// (FLOTILLA_USER_POOL_ID); the scheduler function asks it whether a
	// schedule's owner may still launch. CognitoEndpoint overrides its
	// endpoint (FLOTILLA_COGNITO_ENDPOINT).
	UserPoolID      string
	CognitoEndpoint string

	// Endpoint overrides, for emulators and fakes (FLOTILLA_DYNAMODB_ENDPOINT,
	// FLOTILLA_SQS_ENDPOINT, FLOTILLA_ECS_ENDPOINT, FLOTILLA_LOGS_ENDPOINT,
	// FLOTILLA_SCHEDULER_ENDPOINT; empty: the AWS endpoint of the Region).
	DynamoDBEndpoint  string
	SQSEndpoint       string
	ECSEndpoint       string
	LogsEndpoint      string
	SchedulerEndpoint string
	EventsEndpoint    string // FLOTILLA_EVENTBRIDGE_ENDPOINT
	// The notifier's endpoints and sender (FLOTILLA_SSM_ENDPOINT,
	// FLOTILLA_SECRETSMANAGER_ENDPOINT, FLOTILLA_SES_ENDPOINT,
	// FLOTILLA_NOTIFY_FROM).
	SSMEndpoint, SecretsManagerEndpoint, SESEndpoint, NotifyFrom string
	// EventBus is where run status changes are published (FLOTILLA_EVENT_BUS;
	// "default": the account's default bus; empty: not published), with
	// links into the UI at UIURL (FLOTILLA_UI_URL).
	EventBus string
	UIURL    string
	// AccountID is the deployment's account (FLOTILLA_ACCOUNT_ID; else the
	// account of TaskRoleARN).
	AccountID string
	// StaticCredentials uses dummy credentials, for emulators
	// (FLOTILLA_AWS_STATIC_CREDENTIALS=1).
	StaticCredentials bool
	// PutOnRemove is awsdynamodb.Options.PutOnRemove, which minidyn needs
	// (FLOTILLA_DYNAMODB_PUT_ON_REMOVE=1 or 0; default: on when
	// DynamoDBEndpoint is set, off against DynamoDB itself).
	PutOnRemove bool
	// RunRetentionDays is awsdynamodb.Options.Retention in days
	// (FLOTILLA_RUN_RETENTION_DAYS; 0: ended runs are kept for ever).
	RunRetentionDays int
}

// Cluster is one element of FLOTILLA_CLUSTERS.
type Cluster struct {
	// Name is the Flotilla cluster name (required, unique).
	Name string `json:"name"`
	// MaxRunning is the admission limit (required, at least 1).
	MaxRunning int `json:"max_running"`
	// QueueURL is the cluster's SQS FIFO queue (required, or Queue).
	QueueURL string `json:"queue_url,omitempty"`
	// Queue is the queue's name, under FLOTILLA_QUEUE_URL_PREFIX.
	Queue string `json:"queue,omitempty"`
	// ECSCluster is the ECS cluster's name or ARN (required).
	ECSCluster string `json:"ecs_cluster"`
	// LaunchType is FARGATE (default), FARGATE_SPOT or EC2.
	LaunchType     string   `json:"launch_type"`
	Subnets        []string `json:"subnets"`
	SecurityGroups []string `json:"security_groups"`
	AssignPublicIP bool     `json:"assign_public_ip"`
	// SpotFallback, on a FARGATE_SPOT cluster, names its on-demand twin (a
	// FARGATE or EC2 cluster of the list): a run Spot interrupts twice
	// continues there.
	SpotFallback string `json:"spot_fallback,omitempty"`
}

// FromEnv reads the Config. Errors name the variable at fault.
func FromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		TableName:              strings.TrimSpace(getenv(EnvTableName)),
		LogGroup:               getenv(EnvLogGroup),
		TaskExecutionRoleARN:   getenv(EnvTaskExecutionRoleARN),
		TaskRoleARN:            getenv(EnvTaskRoleARN),
		ScheduleGroup:          getenv(EnvScheduleGroup),
		SchedulerTargetARN:     getenv(EnvSchedulerTargetARN),
		SchedulerRoleARN:       getenv(EnvSchedulerRoleARN),
		ScheduleDLQARN:         getenv(EnvScheduleDLQARN),
		SecretsPrefix:          getenv(EnvSecretsPrefix),
		JobRolePrefix:          getenv(EnvJobRolePrefix),
		TaskFamilyPrefix:       getenv(EnvTaskFamilyPrefix),
		UserPoolID:             getenv(EnvUserPoolID),
		CognitoEndpoint:        getenv(EnvCognitoEndpoint),
		DynamoDBEndpoint:       getenv(EnvDynamoDBEndpoint),
		SQSEndpoint:            getenv(EnvSQSEndpoint),
		ECSEndpoint:            getenv(EnvECSEndpoint),
		LogsEndpoint:           getenv(EnvLogsEndpoint),
		SchedulerEndpoint:      getenv(EnvSchedulerEndpoint),
		EventsEndpoint:         getenv(EnvEventsEndpoint),
		SSMEndpoint:            getenv(EnvSSMEndpoint),
		SecretsManagerEndpoint: getenv(EnvSecretsManagerEndpoint),
		SESEndpoint:            getenv(EnvSESEndpoint),
		NotifyFrom:             getenv(EnvNotifyFrom),
		EventBus:               getenv(EnvEventBus),
		UIURL:                  strings.TrimRight(getenv(EnvUIURL), "/"),
		AccountID:              getenv(EnvAccountID),
	}
	if c.TableName == "" {
		return Config{}, fmt.Errorf("%s is not set: name the DynamoDB table", EnvTableName)
	}
	if c.LogGroup == "" {
		c.LogGroup = DefaultLogGroup
	}
	if c.ScheduleGroup == "" {
		c.ScheduleGroup = DefaultScheduleGroup
	}
	var err error
	if c.StaticCredentials, err = envBool(getenv, EnvStaticCredentials, false); err != nil {
		return Config{}, err
	}
	if c.PutOnRemove, err = envBool(getenv, EnvPutOnRemove, c.DynamoDBEndpoint != ""); err != nil {
		return Config{}, err
	}
	if v := strings.TrimSpace(getenv(EnvRunRetentionDays)); v != "" {
		if c.RunRetentionDays, err = strconv.Atoi(v); err != nil || c.RunRetentionDays < 0 {
			return Config{}, fmt.Errorf("%s=%q: want a whole number of days, 0 or more", EnvRunRetentionDays, v)
		}
	}
	queuePrefix, namePrefix := getenv(EnvQueueURLPrefix), getenv(EnvNamePrefix)
	subnets, groups := splitList(getenv(EnvSubnets)), splitList(getenv(EnvSecurityGroups))
	publicIP, err := envBool(getenv, EnvAssignPublicIP, false)
	if err != nil {
		return Config{}, err
	}
	raw := strings.TrimSpace(getenv(EnvClusters))
	if raw == "" {
		return Config{}, fmt.Errorf(`%s is not set: a JSON array such as [{"name":"default","max_running":10,"queue_url":"https://…/default.fifo","ecs_cluster":"arn:…","launch_type":"FARGATE","subnets":["subnet-…"]}]`, EnvClusters)
	}
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c.Clusters); err != nil {
		return Config{}, fmt.Errorf("%s is not a JSON array of clusters: %v", EnvClusters, err)
	}
	if len(c.Clusters) == 0 {
		return Config{}, fmt.Errorf("%s lists no cluster: at least one is needed", EnvClusters)
	}
	seen := map[string]bool{}
	for i := range c.Clusters {
		cl := &c.Clusters[i]
		where := fmt.Sprintf("%s[%d]", EnvClusters, i)
		if cl.Name == "" {
			return Config{}, fmt.Errorf("%s: name is required", where)
		}
		where += " (" + cl.Name + ")"
		if seen[cl.Name] {
			return Config{}, fmt.Errorf("%s: name is used twice", where)
		}
		seen[cl.Name] = true
		if cl.MaxRunning < 1 {
			return Config{}, fmt.Errorf("%s: max_running must be at least 1, not %d", where, cl.MaxRunning)
		}
		if namePrefix != "" && cl.QueueURL == "" && cl.Queue == "" && cl.ECSCluster == "" {
			// A cluster the deployment created: named by convention, on the
			// shared network.
			cl.Queue, cl.ECSCluster = namePrefix+"-"+cl.Name+".fifo", namePrefix+"-"+cl.Name
			cl.AssignPublicIP = publicIP
		}
		if cl.QueueURL == "" && cl.Queue != "" {
			if queuePrefix == "" {
				return Config{}, fmt.Errorf("%s: queue %q needs %s", where, cl.Queue, EnvQueueURLPrefix)
			}
			cl.QueueURL = queuePrefix + cl.Queue
		}
		if len(cl.Subnets) == 0 {
			cl.Subnets = subnets
		}
		if len(cl.SecurityGroups) == 0 {
			cl.SecurityGroups = groups
		}
		if !strings.HasSuffix(cl.QueueURL, ".fifo") {
			return Config{}, fmt.Errorf("%s: queue_url %q is not a FIFO queue's URL (ending in .fifo)", where, cl.QueueURL)
		}
		if cl.ECSCluster == "" {
			return Config{}, fmt.Errorf("%s: ecs_cluster is required", where)
		}
		switch cl.LaunchType {
		case "":
			cl.LaunchType = "FARGATE"
		case "FARGATE", "FARGATE_SPOT", "EC2":
		default:
			return Config{}, fmt.Errorf("%s: launch_type %q must be FARGATE, FARGATE_SPOT or EC2", where, cl.LaunchType)
		}
	}
	for i, cl := range c.Clusters {
		if cl.SpotFallback == "" {
			continue
		}
		where := fmt.Sprintf("%s[%d] (%s)", EnvClusters, i, cl.Name)
		twin := slices.IndexFunc(c.Clusters, func(o Cluster) bool { return o.Name == cl.SpotFallback })
		switch {
		case cl.LaunchType != "FARGATE_SPOT":
			return Config{}, fmt.Errorf("%s: spot_fallback applies to a FARGATE_SPOT cluster, not %s", where, cl.LaunchType)
		case twin < 0:
			return Config{}, fmt.Errorf("%s: spot_fallback %q is not a cluster of the list", where, cl.SpotFallback)
		case c.Clusters[twin].LaunchType == "FARGATE_SPOT":
			return Config{}, fmt.Errorf("%s: spot_fallback %q is a FARGATE_SPOT cluster too; name an on-demand one", where, cl.SpotFallback)
		}
	}
	return c, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func envBool(getenv func(string) string, key string, def bool) (bool, error) {
	v := getenv(key)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s=%q: want 1 or 0", key, v)
	}
	return b, nil
}

// Options are what Build takes besides the Config.
type Options struct {
	// Counter, when set, counts every AWS request the clients make.
	Counter *awsclient.Counter
	// Logger is the use cases' logger (default: discard).
	Logger *slog.Logger
	// Recorder, when set, records the IAM requests of every AWS call.
	Recorder *awsclient.Recorder
}

// Wired is the wired AWS side: the SDK clients, the adapters, the runs use
// cases on them, and the decoder of ECS task state changes.
type Wired struct {
	Config Config
	AWS    aws.Config

	DynamoDB *dynamodb.Client
	SQS      *sqs.Client
	ECS      *ecs.Client

	Store    *awsdynamodb.Store
	Queue    *awssqs.Queue
	Executor awsecs.Clusters
	// The log reader and the EventBridge Scheduler adapter are not wired
	// here: only the API needs them, and every SDK service a function
	// links costs it cold-start time. Build them with awslogs.FromConfig
	// and awsscheduler.FromConfig on AWS and Config.

	// Service is the runs use cases on the adapters; its DefaultCluster is
	// the first configured cluster.
	Service *runs.Service
	// Decoder maps EventBridge ECS events to the Flotilla cluster names.
	Decoder awsevents.Decoder
}

// ClusterNames lists the clusters in configuration order.
func (w *Wired) ClusterNames() []string {
	names := make([]string, len(w.Config.Clusters))
	for i, c := range w.Config.Clusters {
		names[i] = c.Name
	}
	return names
}

// Build makes the SDK clients (once) and wires the adapters on them. It
// checks configuration, not AWS: nothing is called.
func Build(ctx context.Context, c Config, o Options) (*Wired, error) {
	if len(c.Clusters) == 0 {
		return nil, fmt.Errorf("awswire: no clusters configured (%s)", EnvClusters)
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, err := awsclient.Load(ctx, awsclient.Options{StaticCredentials: c.StaticCredentials, Counter: o.Counter, Recorder: o.Recorder})
	if err != nil {
		return nil, fmt.Errorf("awswire: load AWS config: %w", err)
	}
	w := &Wired{
		Config: c,
		AWS:    cfg,
		DynamoDB: dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
			o.BaseEndpoint = Endpoint(c.DynamoDBEndpoint)
			// Emulators such as minidyn send no X-Amz-Crc32 header, which
			// the SDK would report on every response.
			o.DisableValidateResponseChecksum = c.DynamoDBEndpoint != ""
		}),
		SQS:      sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = Endpoint(c.SQSEndpoint) }),
		ECS:      ecs.NewFromConfig(cfg, func(o *ecs.Options) { o.BaseEndpoint = Endpoint(c.ECSEndpoint) }),
		Executor: awsecs.Clusters{},
		Decoder:  awsevents.Decoder{Clusters: map[string]string{}},
	}
	w.Store = awsdynamodb.New(w.DynamoDB, c.TableName, awsdynamodb.Options{
		PutOnRemove: c.PutOnRemove,
		Retention:   time.Duration(c.RunRetentionDays) * 24 * time.Hour,
	})
	urls := make(map[string]string, len(c.Clusters))
	clusters := make(map[string]flotilla.Cluster, len(c.Clusters))
	for _, cl := range c.Clusters {
		urls[cl.Name] = cl.QueueURL
		ec := awsecs.Config{
			Cluster:          cl.ECSCluster,
			LaunchType:       cl.LaunchType,
			Subnets:          cl.Subnets,
			SecurityGroups:   cl.SecurityGroups,
			AssignPublicIP:   cl.AssignPublicIP,
			ExecutionRoleARN: c.TaskExecutionRoleARN,
			TaskRoleARN:      c.TaskRoleARN,
			LogGroup:         c.LogGroup,
			FamilyPrefix:     c.TaskFamilyPrefix,
			SecretsPrefix:    c.SecretsPrefix,
		}
		if cl.LaunchType == "FARGATE_SPOT" {
			ec.LaunchType = "FARGATE"
			ec.CapacityProviders = []awsecs.CapacityProvider{{Name: "FARGATE_SPOT", Weight: 1}}
		}
		e, err := awsecs.New(w.ECS, ec)
		if err != nil {
			return nil, fmt.Errorf("awswire: cluster %s: %w", cl.Name, err)
		}
		w.Executor[cl.Name] = e
		w.Decoder.Clusters[awsecs.ClusterName(cl.ECSCluster)] = cl.Name
		clusters[cl.Name] = flotilla.Cluster{Name: cl.Name, MaxRunning: cl.MaxRunning, LaunchType: e.Engine(), SpotFallback: cl.SpotFallback}
	}
	if w.Queue, err = awssqs.New(w.SQS, awssqs.Config{QueueURLs: urls, Logger: log}); err != nil {
		return nil, fmt.Errorf("awswire: %w", err)
	}
	// Every status change the functions store is published (best effort:
	// the stored change is what counts).
	var store flotilla.Store = w.Store
	if c.EventBus != "" {
		bus := c.EventBus
		if bus == "default" {
			bus = ""
		}
		store = runs.Publishing(w.Store, awsbus.FromConfig(w.AWS, c.EventsEndpoint, bus), c.UIURL, log)
	}
	w.Service = &runs.Service{
		Store:          store,
		Queue:          w.Queue,
		Executor:       w.Executor,
		Clusters:       clusters,
		DefaultCluster: c.Clusters[0].Name,
		Log:            log,
	}
	return w, nil
}

// IAMNames are the configuration's resource names, for an IAM recording.
func (c Config) IAMNames() awsclient.Names {
	if c.TaskFamilyPrefix == "" {
		c.TaskFamilyPrefix = awsecs.DefaultFamilyPrefix
	}
	n := awsclient.Names{
		Table: c.TableName, LogGroup: c.LogGroup,
		TaskExecutionRole: c.TaskExecutionRoleARN, TaskRole: c.TaskRoleARN, SchedulerRole: c.SchedulerRoleARN,
		ScheduleGroup: c.ScheduleGroup,
		FamilyPrefix:  c.TaskFamilyPrefix, UserPool: c.UserPoolID, SecretsPrefix: c.SecretsPrefix,
		JobRolePrefix: c.JobRolePrefix,
		Queues:        map[string]string{}, ECSClusters: map[string]string{},
	}
	for _, cl := range c.Clusters {
		n.Queues[cl.QueueURL[strings.LastIndex(cl.QueueURL, "/")+1:]] = cl.Name
		n.ECSClusters[awsecs.ClusterName(cl.ECSCluster)] = cl.Name
	}
	return n
}

// Endpoint is an SDK client's BaseEndpoint: nil (the Region's AWS endpoint) for an empty override.
func Endpoint(url string) *string {
	if url == "" {
		return nil
	}
	return aws.String(url)
}

// ForLambda is every Lambda's start: a JSON logger on stdout and the
// adapters wired from the environment. A bad configuration ends the
// process (Lambda reports the failed init) after logging what is wrong.
func ForLambda(ctx context.Context) (*Wired, *slog.Logger) {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	cfg, err := FromEnv(os.Getenv)
	if err == nil {
		o := Options{Logger: log}
		// Tests record every AWS call for the IAM proof (infra/iam_test.go).
		if dir := os.Getenv(EnvIAMRecord); dir != "" {
			fn := strings.TrimPrefix(os.Getenv("AWS_LAMBDA_FUNCTION_NAME"), "flotilla-")
			o.Recorder, err = awsclient.NewRecorder(dir, fn, cfg.IAMNames())
		}
		var w *Wired
		if err == nil {
			if w, err = Build(ctx, cfg, o); err == nil {
				return w, log
			}
		}
	}
	log.Error("cannot start", "err", err)
	os.Exit(1)
	return nil, nil
}

// CheckDefinition is what the deployment adds to a definition's
// validation: its secrets within what the execution role may read, its
// task role one the functions may pass (in the account of the deployment's
// own task role).
func (c Config) CheckDefinition(d flotilla.Definition) error {
	v := &flotilla.ValidationError{}
	for _, err := range []error{
		awsecs.CheckSecrets(c.SecretsPrefix, "secrets", d.Secrets),
		awsecs.CheckNotifySecrets(c.SecretsPrefix, d.Notify),
		awsecs.CheckTaskRole(cmp.Or(c.AccountID, awsecs.AccountOf(c.TaskRoleARN)), c.JobRolePrefix, d.TaskRoleARN),
	} {
		var ve *flotilla.ValidationError
		if errors.As(err, &ve) {
			v.Fields = append(v.Fields, ve.Fields...)
		} else if err != nil {
			return err
		}
	}
	return v.Err()
}
