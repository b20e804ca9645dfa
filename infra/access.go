package main

// This file is the one place that says what each Lambda function is and may
// touch. stack.go turns these lists into grants; the tests read them back
// from the synthesized template.

// ecsAction is an ECS permission the stack knows how to scope.
type ecsAction string

const (
	ecsRunTask       ecsAction = "ecs:RunTask"       // only Flotilla task definitions, only managed clusters
	ecsStopTask      ecsAction = "ecs:StopTask"      // only tasks in managed clusters
	ecsDescribeTasks ecsAction = "ecs:DescribeTasks" // only tasks in managed clusters
	// ListTasks finds a run's task when its id was never recorded (an
	// interrupted start). The Service Authorization Reference lists
	// container-instance as its resource type, but a ListTasks call names no
	// container instance (on Fargate there is none): AWS's own example
	// ("List and describe Amazon ECS task examples", Identity-based policy
	// examples for Amazon ECS) grants it on Resource "*" with an
	// ArnEquals ecs:cluster condition, and awsdocs/amazon-ecs-developer-guide
	// issue 211 reports the container-instance form failing. So: "*", scoped
	// by ecs:cluster to Flotilla's clusters.
	ecsListTasks ecsAction = "ecs:ListTasks"
)

// access is the least-privilege grant set of one function.
type access struct {
	TableReadWrite  bool        // the Flotilla table and its indexes
	ConsumeQueue    bool        // the dispatcher's event source mapping on every cluster queue
	SendToQueues    bool        // SendMessage to every cluster queue (launch, retries, re-admission)
	ReadJobLogs     bool        // read the job log group (run logs over the API)
	ECS             []ecsAction // scoped as documented on each action
	TaskDefinitions bool        // RegisterTaskDefinition/DescribeTaskDefinition (resource "*": ECS has no resource-level scope for them) + PassRole of the task roles
	ManageSchedules bool        // EventBridge Scheduler schedules in the flotilla group + PassRole of the scheduler role
	// PublishRunChanges: PutEvents on the default bus, only with source
	// "flotilla" and detail-type "Flotilla Run State Change".
	PublishRunChanges bool
	// Notify: read webhook signing keys under the stage's secrets prefix
	// (SSM parameters, Secrets Manager secrets) and, when a sender is
	// configured, send e-mail from it through SES.
	Notify bool
}

// function is one Lambda function built to build/lambdas/<Name>/bootstrap.
type function struct {
	Name           string // also the directory under the lambdas dir
	ID             string // construct id
	Description    string
	MemoryMiB      float64
	TimeoutSeconds float64
	Access         access
	// InvokedAsync: EventBridge (rules or Scheduler) invokes it
	// asynchronously, so a failure after Lambda's retries goes to the
	// dead-letter queue through an on-failure destination.
	InvokedAsync bool
}

// functions lists every Flotilla Lambda and its grants.
var functions = []function{
	{
		Name: "api", ID: "ApiFunction", Description: "Flotilla REST API (HTTP API payload v2)",
		MemoryMiB: 512, TimeoutSeconds: 29, // HTTP API integrations time out at 30 s
		Access: access{
			TableReadWrite: true, PublishRunChanges: true, SendToQueues: true, ReadJobLogs: true,
			ECS:             []ecsAction{ecsStopTask, ecsDescribeTasks, ecsListTasks},
			ManageSchedules: true,
		},
	},
	{
		Name: "dispatcher", ID: "DispatcherFunction", Description: "Flotilla dispatcher: cluster queue -> ECS RunTask when capacity exists",
		MemoryMiB: 256, TimeoutSeconds: 60,
		Access: access{
			TableReadWrite: true, PublishRunChanges: true, ConsumeQueue: true, SendToQueues: true,
			// RunTask, StopTask by the id RunTask returned when a stop arrived
			// meanwhile (runs/dispatch.go), and the lookup by startedBy when
			// RunTask answers ConflictException without the task's ARN
			// (awsecs existingTask).
			ECS:             []ecsAction{ecsRunTask, ecsStopTask, ecsDescribeTasks, ecsListTasks},
			TaskDefinitions: true,
		},
	},
	{
		Name: "events", ID: "EventsFunction", Description: "Flotilla ECS task state events -> run status",
		MemoryMiB: 256, TimeoutSeconds: 30,
		Access: access{
			// No ECS rights: an event carries all it needs, and a stop
			// requested meanwhile is sent by the dispatcher or the sweep.
			TableReadWrite: true, PublishRunChanges: true, SendToQueues: true,
		},
		InvokedAsync: true,
	},
	{
		Name: "sweep", ID: "SweepFunction", Description: "Flotilla sweep: timeouts, lost events, re-admission (every minute)",
		MemoryMiB: 256, TimeoutSeconds: 55, // shorter than the 1-minute period
		Access: access{
			TableReadWrite: true, PublishRunChanges: true, SendToQueues: true,
			// The sweep restarts interrupted starts through the executor:
			// the same ECS rights as the dispatcher.
			ECS:             []ecsAction{ecsRunTask, ecsStopTask, ecsDescribeTasks, ecsListTasks},
			TaskDefinitions: true,
		},
		InvokedAsync: true,
	},
	{
		Name: "scheduler", ID: "SchedulerFunction", Description: "Flotilla schedule target: EventBridge Scheduler -> launch a run",
		MemoryMiB: 256, TimeoutSeconds: 30,
		Access: access{
			TableReadWrite: true, PublishRunChanges: true, SendToQueues: true,
		},
		InvokedAsync: true,
	},
	{
		Name: "notifier", ID: "NotifierFunction", Description: "Flotilla notifier: a run's end -> its webhooks and e-mail addresses",
		// Up to 5 targets, a webhook tried 3 times with 10 s timeouts.
		MemoryMiB: 256, TimeoutSeconds: 180,
		Access: access{
			// Reads the run and appends to its life story; changes no status.
			TableReadWrite: true, Notify: true,
		},
		InvokedAsync: true,
	},
}

// Environment variable names the Lambdas read (the lead's contract).
const (
	envTableName          = "FLOTILLA_TABLE_NAME"
	envClusters           = "FLOTILLA_CLUSTERS"
	envLogGroup           = "FLOTILLA_LOG_GROUP"
	envTaskExecRoleARN    = "FLOTILLA_TASK_EXECUTION_ROLE_ARN"
	envTaskRoleARN        = "FLOTILLA_TASK_ROLE_ARN"
	envScheduleGroup      = "FLOTILLA_SCHEDULE_GROUP"
	envSchedulerTargetARN = "FLOTILLA_SCHEDULER_TARGET_ARN"
	envSchedulerRoleARN   = "FLOTILLA_SCHEDULER_ROLE_ARN"
	envScheduleDLQARN     = "FLOTILLA_SCHEDULE_DLQ_ARN"
	envSecretsPrefix      = "FLOTILLA_SECRETS_PREFIX"
	envJobRolePrefix      = "FLOTILLA_JOB_ROLE_PREFIX"
	envEventBus           = "FLOTILLA_EVENT_BUS"
	envAccountID          = "FLOTILLA_ACCOUNT_ID"
	envNotifyFrom         = "FLOTILLA_NOTIFY_FROM"
	envUIURL              = "FLOTILLA_UI_URL"
	envTaskFamilyPrefix   = "FLOTILLA_TASK_FAMILY_PREFIX"
	envQueueURLPrefix     = "FLOTILLA_QUEUE_URL_PREFIX"
	envSubnets            = "FLOTILLA_SUBNETS"
	envSecurityGroups     = "FLOTILLA_SECURITY_GROUPS"
	envAssignPublicIP     = "FLOTILLA_ASSIGN_PUBLIC_IP"
	envNamePrefix         = "FLOTILLA_NAME_PREFIX"
	envAdminGroup         = "FLOTILLA_ADMIN_GROUP"
	envUserPoolID         = "FLOTILLA_USER_POOL_ID"
	envRunRetentionDays   = "FLOTILLA_RUN_RETENTION_DAYS"
)

// Table keys. The adapter owns the item layout; add an index here.
const (
	tablePartitionKey = "pk"
	tableSortKey      = "sk"
)

// gsi is one global secondary index. Include lists the non-key attributes
// it projects; none means KEYS_ONLY (the adapter reads the item itself).
type gsi struct {
	Name, PartitionKey, SortKey string
	Include                     []string
}

// runProjection is what every index projects besides its keys: the run's
// attributes that never change after create (owner, cluster, definition,
// schedule, tags, queued_at), so an index entry is written only when it
// enters, moves or leaves its index, and the history filters apply to
// index entries (internal/awsdynamodb indexProjection, the same list).
var runProjection = []string{"ow", "cl", "df", "sc", "tg", "qa"}

// tableIndexes are internal/awsdynamodb's indexes (its CreateTable makes
// the same; see its doc.go): gsi1 by a run's state (an owner's queue, a
// cluster's active and WAITING runs, the FAILED and STOPPED history), gsi2
// by definition, gsi3 by owner, gsi4 by parent (a run launched from
// another, an array's children among them; active apart from ended). All
// sort by the table's sort key, the run id.
var tableIndexes = []gsi{
	{Name: "gsi1", PartitionKey: "gsi1pk", SortKey: tableSortKey, Include: runProjection},
	{Name: "gsi2", PartitionKey: "gsi2pk", SortKey: tableSortKey, Include: runProjection},
	{Name: "gsi3", PartitionKey: "gsi3pk", SortKey: tableSortKey, Include: runProjection},
	{Name: "gsi4", PartitionKey: "gsi4pk", SortKey: tableSortKey, Include: runProjection},
}

// tableTTLAttribute is the run item's expiry (Unix seconds), which the
// store sets on ended runs when FLOTILLA_RUN_RETENTION_DAYS is set.
const tableTTLAttribute = "ttl"

// Fixed names and prefixes shared with the application code.
const (
	runIDPrefix = "run_" // ECS startedBy of every Flotilla task
	// What the functions publish (flotilla.RunChangeSource, RunChangeDetailType).
	runChangeSource     = "flotilla"
	runChangeDetailType = "Flotilla Run State Change"
	// SSM parameters and Secrets Manager secrets a stage's jobs may
	// reference are named flotilla/<stage>/…: two stages never read each
	// other's (secretsPrefixOf).
	secretsRoot = "flotilla/"
	healthPath  = "/v1/health"
)

// secretsPrefixOf is the name prefix of a stage's job secrets.
func secretsPrefixOf(stage string) string { return secretsRoot + stage + "/" }

// envFor reports whether a function gets a variable of the shared
// environment: each reads only part of it, and a function's whole
// environment is limited to 4 KB (Lambda quotas), so the schedule
// settings go only to the functions that manage schedules and the task
// roles only to those that register task definitions.
func envFor(f function, key string) bool {
	switch key {
	case envScheduleGroup, envSchedulerRoleARN, envSchedulerTargetARN, envScheduleDLQARN:
		return f.Access.ManageSchedules
	case envTaskExecRoleARN, envTaskRoleARN:
		return f.Access.TaskDefinitions
	case envNotifyFrom:
		return f.Access.Notify
	}
	return true
}
