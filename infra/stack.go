package main

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2authorizers"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfront"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfrontorigins"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdadestinations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3assets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3deployment"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsscheduler"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// StackProps configures the Flotilla stack. PropsFromContext fills it from
// cdk.json context; tests may fill it directly.
type StackProps struct {
	awscdk.StackProps
	Clusters         []ClusterConfig
	LambdasDir       string // holds <fn>/bootstrap for every entry of functions
	WebDist          string // the built UI; a placeholder page is deployed when it is missing
	LogRetention     awslogs.RetentionDays
	AuthDomainPrefix string   // Cognito hosted UI prefix; "" means flotilla-<account id>
	CLICallbackURLs  []string // loopback redirect URIs of `flotilla login`
	RetainData       bool     // keep the table, user pool and log groups when the stack is deleted
	Stage            string   // names this deployment; stages share nothing (default "prod")
	AdminGroup       string   // Cognito group of the admins (default "flotilla-admins")
	RunRetentionDays int      // days ended runs are kept before DynamoDB's TTL deletes them; 0: for ever
	// JobRolePrefix starts the names of the IAM roles a definition may name
	// as its task_role_arn (default "flotilla-job-"): the functions that
	// register and run task definitions may pass only those to ECS.
	JobRolePrefix string
	// NotifyFrom is the address notification e-mail is sent from (an
	// address or domain verified in SES); "" sends none.
	NotifyFrom string
	// Paused gives every function a reserved concurrency of 0 and turns
	// the queues' event source mappings off, so nothing reads or writes the
	// table while `flotilla migrate` copies it (docs/deploy.md, Upgrade).
	Paused bool
}

// Stack exposes what tests and outputs need.
type Stack struct {
	awscdk.Stack
	Table     awsdynamodb.Table
	Functions map[string]awslambda.Function
	Queues    map[string]awssqs.Queue
}

// clusterResources is one configured cluster after synthesis.
type clusterResources struct {
	cfg            ClusterConfig
	arn            string
	name           string // ECS cluster name (may be a token)
	subnets        []string
	securityGroups []string
	assignPublicIP bool
	queue, dlq     awssqs.Queue
	ecs            awsecs.Cluster // nil for an existing cluster
}

// NewStack builds the whole Flotilla deployment.
func NewStack(scope constructs.Construct, id string, props *StackProps) *Stack {
	stack := awscdk.NewStack(scope, jsii.String(id), &props.StackProps)
	s := &Stack{Stack: stack, Functions: map[string]awslambda.Function{}, Queues: map[string]awssqs.Queue{}}

	dataRemoval := awscdk.RemovalPolicy_DESTROY
	if props.RetainData {
		// Kept when the stack is deleted or the resource replaced, but not
		// when the first create fails and rolls back (nothing to keep then,
		// and a kept user pool or log group would block the next try).
		dataRemoval = awscdk.RemovalPolicy_RETAIN_ON_UPDATE_OR_DELETE
	}
	stage := props.Stage
	if stage == "" {
		stage = defaultStage
	}
	// Every name this stack gives starts with prefix, so two stages never
	// share a name or an IAM scope.
	prefix := "flotilla-" + stage
	familyPrefix := prefix + "-"
	secretsPrefix := secretsPrefixOf(stage)
	jobRolePrefix := cmp.Or(props.JobRolePrefix, jobRolePrefixOf(defaultJobRolePrefix, stage))
	partition, region, account := *awscdk.Aws_PARTITION(), *awscdk.Aws_REGION(), *awscdk.Aws_ACCOUNT_ID()
	arn := func(service, resource string) string {
		return fmt.Sprintf("arn:%s:%s:%s:%s:%s", partition, service, region, account, resource)
	}

	// --- Table -------------------------------------------------------------
	tableProps := &awsdynamodb.TableProps{
		PartitionKey: &awsdynamodb.Attribute{Name: jsii.String(tablePartitionKey), Type: awsdynamodb.AttributeType_STRING},
		SortKey:      &awsdynamodb.Attribute{Name: jsii.String(tableSortKey), Type: awsdynamodb.AttributeType_STRING},
		BillingMode:  awsdynamodb.BillingMode_PAY_PER_REQUEST,
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		RemovalPolicy: dataRemoval,
	}
	if props.RunRetentionDays > 0 {
		// TTL deletes an item within days after the time in this
		// attribute, at no write cost (DynamoDB Developer Guide, "Using
		// time to live (TTL) in DynamoDB"); the store writes it when a
		// run ends. Off, no item carries it and nothing expires.
		tableProps.TimeToLiveAttribute = jsii.String(tableTTLAttribute)
	}
	// Not "Table": that was the table of the earlier layout (runs under
	// pk RUN, gsi1/gsi2 with sort keys of their own). CloudFormation
	// cannot turn one into the other in place: an update may add or
	// delete one global secondary index, not both (CloudFormation User
	// Guide, AWS::DynamoDB::Table, GlobalSecondaryIndexes; DynamoDB API
	// Reference, UpdateTable), and gsi1 and gsi2 change their keys. A
	// stack of that layout upgrading to this one creates this table beside
	// the old one, which leaves the stack but is kept (its removal policy,
	// flotilla:retain_data, true by default), and `flotilla migrate`
	// copies it (internal/awsdynamodb/doc.go, Migration).
	s.Table = awsdynamodb.NewTable(stack, jsii.String("TableV2"), tableProps)
	for _, ix := range tableIndexes {
		props := &awsdynamodb.GlobalSecondaryIndexProps{
			IndexName:      jsii.String(ix.Name),
			PartitionKey:   &awsdynamodb.Attribute{Name: jsii.String(ix.PartitionKey), Type: awsdynamodb.AttributeType_STRING},
			SortKey:        &awsdynamodb.Attribute{Name: jsii.String(ix.SortKey), Type: awsdynamodb.AttributeType_STRING},
			ProjectionType: awsdynamodb.ProjectionType_KEYS_ONLY,
		}
		if len(ix.Include) > 0 {
			props.ProjectionType = awsdynamodb.ProjectionType_INCLUDE
			props.NonKeyAttributes = jsii.Strings(ix.Include...)
		}
		s.Table.AddGlobalSecondaryIndex(props)
	}

	// --- Job logs and task roles -------------------------------------------
	jobLogs := awslogs.NewLogGroup(stack, jsii.String("JobLogs"), &awslogs.LogGroupProps{
		Retention:     props.LogRetention,
		RemovalPolicy: dataRemoval,
	})
	execRole := awsiam.NewRole(stack, jsii.String("TaskExecutionRole"), &awsiam.RoleProps{
		AssumedBy:   ecsTasksPrincipal(),
		Description: jsii.String("ECS task execution role of Flotilla jobs: pull images, write job logs, read flotilla/" + stage + "/ secrets"),
	})
	jobLogs.GrantWrite(execRole)
	execRole.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("EcrAuth"),
		Actions:   jsii.Strings("ecr:GetAuthorizationToken"),
		Resources: jsii.Strings("*"),
	}))
	execRole.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("EcrPull"),
		Actions:   jsii.Strings("ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"),
		Resources: jsii.Strings(arn("ecr", "repository/*")),
	}))
	execRole.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:     jsii.String("JobSecrets"),
		Actions: jsii.Strings("ssm:GetParameters", "secretsmanager:GetSecretValue"),
		Resources: jsii.Strings(
			arn("ssm", "parameter/"+secretsPrefix+"*"),
			arn("secretsmanager", "secret:"+secretsPrefix+"*"),
		),
	}))
	taskRole := awsiam.NewRole(stack, jsii.String("TaskRole"), &awsiam.RoleProps{
		AssumedBy:   ecsTasksPrincipal(),
		Description: jsii.String("Default role of Flotilla job containers; attach what your jobs need"),
	})

	// --- Clusters and their queues -----------------------------------------
	var vpc awsec2.Vpc
	var taskSG awsec2.SecurityGroup
	clusters := make([]*clusterResources, 0, len(props.Clusters))
	for _, c := range props.Clusters {
		cr := &clusterResources{cfg: c}
		cid := "-" + c.Name // construct ids may hold the name as is
		if c.Existing() {
			cr.arn, cr.name, cr.subnets = c.ClusterARN, c.ECSClusterName(), c.Subnets
			cr.securityGroups = c.SecurityGroups
			if len(cr.securityGroups) == 0 {
				sg := awsec2.NewCfnSecurityGroup(stack, jsii.String("TaskSecurityGroup"+cid), &awsec2.CfnSecurityGroupProps{
					GroupDescription: jsii.String("Flotilla jobs on cluster " + c.Name + ": egress only"),
					VpcId:            jsii.String(c.VpcID),
					SecurityGroupEgress: []interface{}{&awsec2.CfnSecurityGroup_EgressProperty{
						IpProtocol: jsii.String("-1"), CidrIp: jsii.String("0.0.0.0/0"), Description: jsii.String("image pulls and job egress"),
					}},
				})
				cr.securityGroups = []string{*sg.AttrGroupId()}
			}
			cr.assignPublicIP = c.AssignPublicIP != nil && *c.AssignPublicIP
		} else {
			if vpc == nil {
				vpc = awsec2.NewVpc(stack, jsii.String("Vpc"), &awsec2.VpcProps{
					MaxAzs:      jsii.Number(2),
					NatGateways: jsii.Number(0),
					SubnetConfiguration: &[]*awsec2.SubnetConfiguration{{
						Name: jsii.String("public"), SubnetType: awsec2.SubnetType_PUBLIC, CidrMask: jsii.Number(24),
					}},
				})
				taskSG = awsec2.NewSecurityGroup(stack, jsii.String("TaskSecurityGroup"), &awsec2.SecurityGroupProps{
					Vpc:              vpc,
					Description:      jsii.String("Flotilla jobs: egress only, no ingress"),
					AllowAllOutbound: jsii.Bool(true),
				})
			}
			cluster := awsecs.NewCluster(stack, jsii.String("Cluster"+cid), &awsecs.ClusterProps{
				ClusterName:                    jsii.String(prefix + "-" + c.Name),
				Vpc:                            vpc,
				EnableFargateCapacityProviders: jsii.Bool(true),
			})
			cr.ecs, cr.arn, cr.name = cluster, *cluster.ClusterArn(), *cluster.ClusterName()
			for _, sn := range *vpc.PublicSubnets() {
				cr.subnets = append(cr.subnets, *sn.SubnetId())
			}
			cr.securityGroups = []string{*taskSG.SecurityGroupId()}
			cr.assignPublicIP = c.AssignPublicIP == nil || *c.AssignPublicIP // no NAT: tasks need a public IP to pull images
		}

		// Named, so the functions' environment can name them briefly; at
		// most 9+12+1+32+9 = 63 characters, within SQS's 80.
		dlq := awssqs.NewQueue(stack, jsii.String("DeadLetterQueue"+cid), &awssqs.QueueProps{
			QueueName:       jsii.String(queueName(prefix, c.Name, "-dlq")),
			Fifo:            jsii.Bool(true),
			RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
			EnforceSSL:      jsii.Bool(true),
			Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		})
		cr.queue = awssqs.NewQueue(stack, jsii.String("Queue"+cid), &awssqs.QueueProps{
			QueueName:         jsii.String(queueName(prefix, c.Name, "")),
			Fifo:              jsii.Bool(true),
			RetentionPeriod:   awscdk.Duration_Days(jsii.Number(14)),
			VisibilityTimeout: awscdk.Duration_Seconds(jsii.Number(6 * functionByName("dispatcher").TimeoutSeconds)),
			EnforceSSL:        jsii.Bool(true),
			Encryption:        awssqs.QueueEncryption_SQS_MANAGED,
			DeadLetterQueue:   &awssqs.DeadLetterQueue{Queue: dlq, MaxReceiveCount: jsii.Number(5)},
		})
		s.Queues[c.Name] = cr.queue
		cr.dlq = dlq
		clusters = append(clusters, cr)
	}

	clusterEnv := make([]ClusterEnv, 0, len(clusters))
	for _, cr := range clusters {
		// A created cluster is its name: the queue, the ECS cluster and the
		// network follow from FLOTILLA_NAME_PREFIX and the shared variables.
		e := ClusterEnv{Name: cr.cfg.Name, MaxRunning: cr.cfg.MaxRunning, SpotFallback: cr.cfg.SpotFallback}
		if cr.cfg.LaunchType != "FARGATE" {
			e.LaunchType = cr.cfg.LaunchType
		}
		switch {
		case cr.cfg.Existing():
			e.Queue, e.ECSCluster = queueName(prefix, cr.cfg.Name, ""), cr.arn
			e.Subnets, e.SecurityGroups, e.AssignPublicIP = cr.subnets, cr.securityGroups, cr.assignPublicIP
		case !cr.assignPublicIP:
			e.Queue, e.ECSCluster = queueName(prefix, cr.cfg.Name, ""), prefix+"-"+cr.cfg.Name
		}
		clusterEnv = append(clusterEnv, e)
	}

	// --- Schedules -----------------------------------------------------------
	// CloudFormation names the group (unique per stack), and deleting it
	// deletes its schedules (EventBridge Scheduler API Reference,
	// DeleteScheduleGroup), so nothing fires at a deleted function.
	scheduleGroup := awsscheduler.NewCfnScheduleGroup(stack, jsii.String("ScheduleGroup"), &awsscheduler.CfnScheduleGroupProps{})
	scheduleGroup.ApplyRemovalPolicy(awscdk.RemovalPolicy_DESTROY, nil)
	schedulerRole := awsiam.NewRole(stack, jsii.String("SchedulerRole"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewPrincipalWithConditions(awsiam.NewServicePrincipal(jsii.String("scheduler.amazonaws.com"), nil), &map[string]interface{}{
			"StringEquals": map[string]interface{}{"aws:SourceAccount": account},
			"ArnEquals":    map[string]interface{}{"aws:SourceArn": *scheduleGroup.AttrArn()},
		}),
		Description: jsii.String("Assumed by EventBridge Scheduler for Flotilla schedules: may invoke the scheduler function only"),
	})

	// --- Dead letters ---------------------------------------------------------
	// One queue for every invocation that would otherwise be dropped: task
	// events and sweep ticks EventBridge could not deliver (the rule
	// targets' dead-letter queue), schedule firings EventBridge Scheduler
	// could not deliver (the schedules' DeadLetterConfig), and asynchronous
	// invocations of the events, sweep and scheduler functions that failed
	// in the function after Lambda's retries (their on-failure destination:
	// a target's dead-letter queue only covers delivery, and Lambda drops a
	// failed asynchronous event otherwise; Lambda Developer Guide,
	// "Asynchronous invocation" and "Adding a destination").
	eventsDLQ := awssqs.NewQueue(stack, jsii.String("EventsDeadLetterQueue"), &awssqs.QueueProps{
		QueueName:       jsii.String(prefix + "-events-dlq"),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
		EnforceSSL:      jsii.Bool(true),
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
	})
	// EventBridge Scheduler sends a firing it could not deliver with the
	// schedule's role (EventBridge Scheduler User Guide, "Configuring a
	// dead-letter queue": sqs:SendMessage on the queue).
	schedulerRole.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("UndeliveredFirings"),
		Actions:   jsii.Strings("sqs:SendMessage"),
		Resources: &[]*string{eventsDLQ.QueueArn()},
	}))

	// --- Functions -----------------------------------------------------------
	common := map[string]*string{
		envTableName:        s.Table.TableName(),
		envClusters:         stack.ToJsonString(clusterEnv, nil),
		envLogGroup:         jobLogs.LogGroupName(),
		envTaskExecRoleARN:  execRole.RoleArn(),
		envTaskRoleARN:      taskRole.RoleArn(),
		envScheduleGroup:    scheduleGroup.Ref(),
		envSchedulerRoleARN: schedulerRole.RoleArn(),
		envScheduleDLQARN:   eventsDLQ.QueueArn(),
		envTaskFamilyPrefix: jsii.String(familyPrefix),
		envSecretsPrefix:    jsii.String(secretsPrefix),
		envJobRolePrefix:    jsii.String(jobRolePrefix),
		// Every run status change is put on the default bus (source
		// "flotilla", detail-type "Flotilla Run State Change").
		envEventBus:  jsii.String("default"),
		envAccountID: awscdk.Aws_ACCOUNT_ID(),
		// The SQS queue URL format (Amazon SQS Developer Guide, "Queue and
		// message identifiers"): https://sqs.<region>.<suffix>/<account>/<name>.
		envQueueURLPrefix: jsii.String("https://sqs." + region + "." + *awscdk.Aws_URL_SUFFIX() + "/" + account + "/"),
	}
	if props.RunRetentionDays > 0 {
		common[envRunRetentionDays] = jsii.String(strconv.Itoa(props.RunRetentionDays))
	}
	if props.NotifyFrom != "" {
		common[envNotifyFrom] = jsii.String(props.NotifyFrom)
	}
	if vpc != nil {
		common[envNamePrefix] = jsii.String(prefix)
		common[envSubnets] = jsii.String(strings.Join(sharedSubnets(clusters), ","))
		common[envSecurityGroups] = taskSG.SecurityGroupId()
		common[envAssignPublicIP] = jsii.String("1") // no NAT: tasks need a public IP to pull images
	}
	// The scheduler function is created first so the others can name it
	// (it cannot carry its own ARN: that would be a circular reference).
	order := []string{"scheduler", "api", "dispatcher", "events", "sweep", "notifier"}
	for _, name := range order {
		f := functionByName(name)
		env := map[string]*string{}
		for k, v := range common {
			if envFor(f, k) {
				env[k] = v
			}
		}
		if sf, ok := s.Functions["scheduler"]; ok && envFor(f, envSchedulerTargetARN) {
			env[envSchedulerTargetARN] = sf.FunctionArn()
		}
		// Named, so `flotilla doctor` finds each function's errors.
		fnLogs := awslogs.NewLogGroup(stack, jsii.String(f.ID+"Logs"), &awslogs.LogGroupProps{
			LogGroupName:  jsii.String("/flotilla/" + stage + "/functions/" + f.Name),
			Retention:     props.LogRetention,
			RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
		})
		// An own role instead of AWSLambdaBasicExecutionRole: logs go to
		// this function's log group only.
		role := awsiam.NewRole(stack, jsii.String(f.ID+"Role"), &awsiam.RoleProps{
			AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
			Description: jsii.String("Flotilla " + f.Name + " function"),
		})
		fnLogs.GrantWrite(role)
		fnProps := &awslambda.FunctionProps{
			Role:         role,
			Description:  jsii.String(f.Description),
			Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
			Architecture: awslambda.Architecture_ARM_64(),
			Handler:      jsii.String("bootstrap"),
			Code:         awslambda.Code_FromAsset(jsii.String(filepath.Join(props.LambdasDir, f.Name)), nil),
			MemorySize:   jsii.Number(f.MemoryMiB),
			Timeout:      awscdk.Duration_Seconds(jsii.Number(f.TimeoutSeconds)),
			Environment:  &env,
			LogGroup:     fnLogs,
		}
		if props.Paused {
			// 0 throttles every invocation: the API answers an error,
			// EventBridge's and the scheduler's events wait in Lambda's
			// asynchronous queue (up to MaxEventAge, then the dead-letter
			// queue), and the queue mappings are off (grant), so the
			// messages stay in their queues. Lambda Developer Guide,
			// "Configuring reserved concurrency" and "How Lambda handles
			// errors and retries with asynchronous invocation".
			fnProps.ReservedConcurrentExecutions = jsii.Number(0)
		}
		fn := awslambda.NewFunction(stack, jsii.String(f.ID), fnProps)
		s.Functions[name] = fn
		if f.InvokedAsync {
			fn.ConfigureAsyncInvoke(&awslambda.EventInvokeConfigOptions{
				OnFailure:     awslambdadestinations.NewSqsDestination(eventsDLQ),
				MaxEventAge:   awscdk.Duration_Hours(jsii.Number(2)),
				RetryAttempts: jsii.Number(2),
			})
		}
		grant(stack, fn, f.Access, grantTargets{
			arn: arn, table: s.Table, clusters: clusters, jobLogs: jobLogs,
			execRole: execRole, taskRole: taskRole, schedulerRole: schedulerRole,
			familyPrefix: familyPrefix, scheduleGroup: *scheduleGroup.Ref(),
			jobRoles:      fmt.Sprintf("arn:%s:iam::%s:role/%s*", partition, account, jobRolePrefix),
			secretsPrefix: secretsPrefix, notifyFrom: props.NotifyFrom, paused: props.Paused,
		})
	}
	schedulerRole.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("InvokeSchedulerFunction"),
		Actions:   jsii.Strings("lambda:InvokeFunction"),
		Resources: &[]*string{s.Functions["scheduler"].FunctionArn()},
	}))

	// --- Engine events and the sweep -----------------------------------------
	// EventBridge retries a failed delivery (up to 185 times over 24 h by
	// default); here 2 h, then the event goes to the dead-letter queue instead
	// of being dropped (EventBridge User Guide, "Event retry policy and using
	// dead-letter queues"). The sweep reconciles what the events missed.
	targetRetry := &awseventstargets.LambdaFunctionProps{
		DeadLetterQueue: eventsDLQ,
		MaxEventAge:     awscdk.Duration_Hours(jsii.Number(2)),
		RetryAttempts:   jsii.Number(20),
	}
	clusterARNs := make([]interface{}, 0, len(clusters))
	for _, cr := range clusters {
		clusterARNs = append(clusterARNs, cr.arn)
	}
	rules := map[string]awsevents.Rule{}
	rules["TaskStateRule"] = awsevents.NewRule(stack, jsii.String("TaskStateRule"), &awsevents.RuleProps{
		Description: jsii.String("ECS task state changes of Flotilla runs -> events function"),
		EventPattern: &awsevents.EventPattern{
			Source:     jsii.Strings("aws.ecs"),
			DetailType: jsii.Strings("ECS Task State Change"),
			Detail: &map[string]interface{}{
				"startedBy":  []interface{}{map[string]interface{}{"prefix": runIDPrefix}},
				"clusterArn": clusterARNs,
				// Only the states that move a run: each other state change
				// would be a Lambda invocation and a read for nothing
				// (a task's id is recorded by the dispatcher and again on RUNNING).
				"lastStatus": []interface{}{"RUNNING", "STOPPED"},
			},
		},
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(s.Functions["events"], targetRetry)},
	})
	// A run's end goes to the notifier when the run names targets (the
	// detail says how many, not which: the bus is readable by any rule).
	rules["RunEndRule"] = awsevents.NewRule(stack, jsii.String("RunEndRule"), &awsevents.RuleProps{
		Description: jsii.String("Sends the end of a Flotilla run that names notify targets to the notifier function"),
		EventPattern: &awsevents.EventPattern{
			Source:     jsii.Strings(runChangeSource),
			DetailType: jsii.Strings(runChangeDetailType),
			Detail: &map[string]interface{}{
				"terminal": []interface{}{true},
				"notify":   []interface{}{map[string]interface{}{"numeric": []interface{}{">", 0}}},
			},
		},
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(s.Functions["notifier"], targetRetry)},
	})
	rules["SweepRule"] = awsevents.NewRule(stack, jsii.String("SweepRule"), &awsevents.RuleProps{
		Description: jsii.String("Runs the Flotilla sweep every minute"),
		Schedule:    awsevents.Schedule_Rate(awscdk.Duration_Minutes(jsii.Number(1))),
		Targets:     &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(s.Functions["sweep"], targetRetry)},
	})

	// --- Alarms ----------------------------------------------------------------
	// Something in a dead-letter queue, or a function failing, needs a person.
	// The alarms have no action: subscribe to them (or `flotilla doctor`).
	dlqs := map[string]awssqs.Queue{"events": eventsDLQ}
	for _, cr := range clusters {
		dlqs["cluster-"+cr.cfg.Name] = cr.dlq
	}
	for name, q := range dlqs {
		awscloudwatch.NewAlarm(stack, jsii.String("DeadLetterAlarm-"+name), &awscloudwatch.AlarmProps{
			AlarmDescription:   jsii.String("Flotilla " + stage + ": messages in the " + name + " dead-letter queue"),
			Metric:             q.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(5))}),
			Threshold:          jsii.Number(1),
			EvaluationPeriods:  jsii.Number(1),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
	}
	// What fails on the way to a dead-letter queue is lost unless someone
	// hears of it: a failed asynchronous invocation the on-failure
	// destination could not take (Lambda Developer Guide, "Asynchronous
	// invocation metrics": DestinationDeliveryFailures), an event a rule
	// could deliver neither to its target nor to its dead-letter queue
	// (EventBridge User Guide, "Monitoring": InvocationsFailedToBeSentToDlq),
	// and the same for schedules (EventBridge Scheduler User Guide,
	// "Monitoring": InvocationsFailedToBeSentToDeadLetterCount).
	lost := map[string]awscloudwatch.IMetric{
		"schedules": awscloudwatch.NewMetric(&awscloudwatch.MetricProps{Namespace: jsii.String("AWS/Scheduler"),
			MetricName:    jsii.String("InvocationsFailedToBeSentToDeadLetterCount"),
			DimensionsMap: &map[string]*string{"ScheduleGroup": scheduleGroup.Ref()}, Statistic: jsii.String("Sum"), Period: awscdk.Duration_Minutes(jsii.Number(5))}),
	}
	for _, f := range functions {
		if f.InvokedAsync {
			lost["function-"+f.Name] = s.Functions[f.Name].Metric(jsii.String("DestinationDeliveryFailures"),
				&awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: awscdk.Duration_Minutes(jsii.Number(5))})
		}
	}
	for name, r := range rules {
		lost["rule-"+name] = awscloudwatch.NewMetric(&awscloudwatch.MetricProps{Namespace: jsii.String("AWS/Events"),
			MetricName:    jsii.String("InvocationsFailedToBeSentToDlq"),
			DimensionsMap: &map[string]*string{"RuleName": r.RuleName()}, Statistic: jsii.String("Sum"), Period: awscdk.Duration_Minutes(jsii.Number(5))})
	}
	for name, m := range lost {
		awscloudwatch.NewAlarm(stack, jsii.String("LostAlarm-"+name), &awscloudwatch.AlarmProps{
			AlarmDescription:   jsii.String("Flotilla " + stage + ": " + name + " could not put a failure in its dead-letter queue"),
			Metric:             m,
			Threshold:          jsii.Number(1),
			EvaluationPeriods:  jsii.Number(1),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
	}
	for _, f := range functions {
		awscloudwatch.NewAlarm(stack, jsii.String("ErrorsAlarm-"+f.Name), &awscloudwatch.AlarmProps{
			AlarmDescription:   jsii.String("Flotilla " + stage + ": the " + f.Name + " function failed"),
			Metric:             s.Functions[f.Name].MetricErrors(&awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(5))}),
			Threshold:          jsii.Number(1),
			EvaluationPeriods:  jsii.Number(1),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
	}

	// --- UI bucket and distribution ------------------------------------------
	uiBucket := awss3.NewBucket(stack, jsii.String("UiBucket"), &awss3.BucketProps{
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		RemovalPolicy:     awscdk.RemovalPolicy_DESTROY,
		AutoDeleteObjects: jsii.Bool(true),
	})
	origin := awscloudfrontorigins.S3BucketOrigin_WithOriginAccessControl(uiBucket, nil)
	spaFallback := func(status float64) *awscloudfront.ErrorResponse {
		return &awscloudfront.ErrorResponse{
			HttpStatus: jsii.Number(status), ResponseHttpStatus: jsii.Number(200),
			ResponsePagePath: jsii.String("/index.html"), Ttl: awscdk.Duration_Seconds(jsii.Number(0)),
		}
	}
	// The same protections `flotilla serve` gives its UI (internal/api/guard.go):
	// no framing, no sniffing, no referrer, and only the app's own scripts
	// and styles. The API and the hosted sign-in are other origins here;
	// naming them by wildcard avoids a cycle (the API's CORS names this
	// distribution). Headers: https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/understanding-response-headers-policies.html
	headers := awscloudfront.NewResponseHeadersPolicy(stack, jsii.String("UiSecurityHeaders"), &awscloudfront.ResponseHeadersPolicyProps{
		Comment: jsii.String("Flotilla web UI security headers"),
		SecurityHeadersBehavior: &awscloudfront.ResponseSecurityHeadersBehavior{
			ContentSecurityPolicy: &awscloudfront.ResponseHeadersContentSecurityPolicy{Override: jsii.Bool(true), ContentSecurityPolicy: jsii.String(
				"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; " +
					"connect-src 'self' https://*.execute-api." + *stack.Region() + ".amazonaws.com https://*.amazoncognito.com; " +
					"object-src 'none'; base-uri 'none'; form-action 'self' https://*.amazoncognito.com; frame-ancestors 'none'")},
			ContentTypeOptions: &awscloudfront.ResponseHeadersContentTypeOptions{Override: jsii.Bool(true)},
			FrameOptions:       &awscloudfront.ResponseHeadersFrameOptions{Override: jsii.Bool(true), FrameOption: awscloudfront.HeadersFrameOption_DENY},
			ReferrerPolicy:     &awscloudfront.ResponseHeadersReferrerPolicy{Override: jsii.Bool(true), ReferrerPolicy: awscloudfront.HeadersReferrerPolicy_NO_REFERRER},
			StrictTransportSecurity: &awscloudfront.ResponseHeadersStrictTransportSecurity{Override: jsii.Bool(true),
				AccessControlMaxAge: awscdk.Duration_Days(jsii.Number(365)), IncludeSubdomains: jsii.Bool(true)},
		},
	})
	distribution := awscloudfront.NewDistribution(stack, jsii.String("UiDistribution"), &awscloudfront.DistributionProps{
		Comment:           jsii.String("Flotilla web UI"),
		DefaultRootObject: jsii.String("index.html"),
		PriceClass:        awscloudfront.PriceClass_PRICE_CLASS_100,
		DefaultBehavior: &awscloudfront.BehaviorOptions{
			Origin:                origin,
			ViewerProtocolPolicy:  awscloudfront.ViewerProtocolPolicy_REDIRECT_TO_HTTPS,
			CachePolicy:           awscloudfront.CachePolicy_CACHING_OPTIMIZED(),
			ResponseHeadersPolicy: headers,
		},
		AdditionalBehaviors: &map[string]*awscloudfront.BehaviorOptions{
			"/config.json": {
				Origin:                origin,
				ViewerProtocolPolicy:  awscloudfront.ViewerProtocolPolicy_REDIRECT_TO_HTTPS,
				CachePolicy:           awscloudfront.CachePolicy_CACHING_DISABLED(),
				ResponseHeadersPolicy: headers,
			},
		},
		ErrorResponses: &[]*awscloudfront.ErrorResponse{spaFallback(403), spaFallback(404)},
	})
	uiURL := "https://" + *distribution.DistributionDomainName()
	for _, f := range functions {
		s.Functions[f.Name].AddEnvironment(jsii.String(envUIURL), jsii.String(uiURL), nil)
	}

	// --- Sign-in -------------------------------------------------------------
	userPool := awscognito.NewUserPool(stack, jsii.String("UserPool"), &awscognito.UserPoolProps{
		SelfSignUpEnabled: jsii.Bool(false), // an admin invites users
		SignInAliases:     &awscognito.SignInAliases{Email: jsii.Bool(true)},
		AutoVerify:        &awscognito.AutoVerifiedAttrs{Email: jsii.Bool(true)},
		AccountRecovery:   awscognito.AccountRecovery_EMAIL_ONLY,
		Mfa:               awscognito.Mfa_OPTIONAL,
		MfaSecondFactor:   &awscognito.MfaSecondFactor{Otp: jsii.Bool(true), Sms: jsii.Bool(false)},
		PasswordPolicy: &awscognito.PasswordPolicy{
			MinLength: jsii.Number(12), RequireLowercase: jsii.Bool(true), RequireUppercase: jsii.Bool(true),
			RequireDigits: jsii.Bool(true), RequireSymbols: jsii.Bool(true),
		},
		RemovalPolicy: dataRemoval,
	})
	domainPrefix := props.AuthDomainPrefix
	if domainPrefix == "" {
		domainPrefix = prefix + "-" + account
	}
	userPoolDomain := userPool.AddDomain(jsii.String("Domain"), &awscognito.UserPoolDomainOptions{
		CognitoDomain: &awscognito.CognitoDomainOptions{DomainPrefix: jsii.String(domainPrefix)},
	})
	scopes := []awscognito.OAuthScope{awscognito.OAuthScope_OPENID(), awscognito.OAuthScope_EMAIL(), awscognito.OAuthScope_PROFILE()}
	callbacks := append([]string{uiURL + "/"}, props.CLICallbackURLs...)
	// The admins: members may change, stop and delete what others own
	// (internal/api/authz.go); tokens name a user's groups in cognito:groups.
	adminGroup := props.AdminGroup
	if adminGroup == "" {
		adminGroup = defaultAdminGroup
	}
	awscognito.NewCfnUserPoolGroup(stack, jsii.String("AdminGroup"), &awscognito.CfnUserPoolGroupProps{
		UserPoolId:  userPool.UserPoolId(),
		GroupName:   jsii.String(adminGroup),
		Description: jsii.String("Flotilla admins: may change, stop and delete what other members own"),
	})
	apiFn := s.Functions["api"]
	apiFn.AddEnvironment(jsii.String(envAdminGroup), jsii.String(adminGroup), nil)
	// A schedule fires as its owner only while they are an enabled user:
	// the scheduler function looks the owner up (internal/awscognito).
	schedFn := s.Functions["scheduler"]
	schedFn.AddEnvironment(jsii.String(envUserPoolID), userPool.UserPoolId(), nil)
	schedFn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("LookUpOwners"),
		Actions:   jsii.Strings("cognito-idp:ListUsers"),
		Resources: &[]*string{userPool.UserPoolArn()},
	}))
	client := userPool.AddClient(jsii.String("Client"), &awscognito.UserPoolClientOptions{
		// Signed-in users cannot change their own e-mail (or any attribute)
		// through the app: the e-mail is shown as who made a thing. Identity
		// itself is the token's sub, which nobody can change.
		WriteAttributes:            awscognito.NewClientAttributes(),
		GenerateSecret:             jsii.Bool(false), // public client: the UI and the CLI use code + PKCE
		PreventUserExistenceErrors: jsii.Bool(true),
		OAuth: &awscognito.OAuthSettings{
			Flows:        &awscognito.OAuthFlows{AuthorizationCodeGrant: jsii.Bool(true)},
			Scopes:       &scopes,
			CallbackUrls: jsii.Strings(callbacks...),
			LogoutUrls:   jsii.Strings(uiURL + "/"),
		},
		SupportedIdentityProviders: &[]awscognito.UserPoolClientIdentityProvider{awscognito.UserPoolClientIdentityProvider_COGNITO()},
	})

	// --- HTTP API --------------------------------------------------------------
	integration := awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String("ApiIntegration"), s.Functions["api"], nil)
	authorizer := awsapigatewayv2authorizers.NewHttpUserPoolAuthorizer(jsii.String("JwtAuthorizer"), userPool, &awsapigatewayv2authorizers.HttpUserPoolAuthorizerProps{
		UserPoolClients: &[]awscognito.IUserPoolClient{client},
	})
	api := awsapigatewayv2.NewHttpApi(stack, jsii.String("HttpApi"), &awsapigatewayv2.HttpApiProps{
		Description: jsii.String("Flotilla REST API v1"),
		CorsPreflight: &awsapigatewayv2.CorsPreflightOptions{
			AllowOrigins: jsii.Strings(uiURL),
			AllowMethods: &[]awsapigatewayv2.CorsHttpMethod{
				awsapigatewayv2.CorsHttpMethod_GET, awsapigatewayv2.CorsHttpMethod_POST, awsapigatewayv2.CorsHttpMethod_PATCH,
				awsapigatewayv2.CorsHttpMethod_DELETE, awsapigatewayv2.CorsHttpMethod_OPTIONS,
			},
			AllowHeaders: jsii.Strings("authorization", "content-type"),
			MaxAge:       awscdk.Duration_Hours(jsii.Number(1)),
		},
	})
	healthRoutes := api.AddRoutes(&awsapigatewayv2.AddRoutesOptions{
		Path:        jsii.String(healthPath),
		Methods:     &[]awsapigatewayv2.HttpMethod{awsapigatewayv2.HttpMethod_GET},
		Integration: integration,
		Authorizer:  awsapigatewayv2.NewHttpNoneAuthorizer(),
	})
	api.AddRoutes(&awsapigatewayv2.AddRoutesOptions{
		Path: jsii.String("/v1/{proxy+}"),
		// Not ANY: ANY also matches the browser's OPTIONS preflight, which
		// would then need a JWT and fail; with explicit methods, API Gateway
		// answers OPTIONS itself from the CORS configuration (API Gateway
		// Developer Guide, "Configuring CORS for an HTTP API": "If you
		// configure CORS for an API, API Gateway automatically sends a
		// response to preflight OPTIONS requests, even if there isn't an
		// OPTIONS route configured").
		Methods: &[]awsapigatewayv2.HttpMethod{
			awsapigatewayv2.HttpMethod_GET, awsapigatewayv2.HttpMethod_POST,
			awsapigatewayv2.HttpMethod_PATCH, awsapigatewayv2.HttpMethod_DELETE,
		},
		Integration: integration,
		Authorizer:  authorizer,
	})
	apiLogs := awslogs.NewLogGroup(stack, jsii.String("ApiAccessLogs"), &awslogs.LogGroupProps{
		Retention:     props.LogRetention,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	apiStage := api.DefaultStage().Node().DefaultChild().(awsapigatewayv2.CfnStage)
	apiStage.SetAccessLogSettings(&awsapigatewayv2.CfnStage_AccessLogSettingsProperty{
		DestinationArn: apiLogs.LogGroupArn(),
		Format: jsii.String(`{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","requestTime":"$context.requestTime",` +
			`"method":"$context.httpMethod","routeKey":"$context.routeKey","status":"$context.status","responseLength":"$context.responseLength",` +
			`"latencyMs":"$context.responseLatency","sub":"$context.authorizer.claims.sub","error":"$context.error.message"}`),
	})
	apiStage.SetDefaultRouteSettings(&awsapigatewayv2.CfnStage_RouteSettingsProperty{
		ThrottlingBurstLimit: jsii.Number(200),
		ThrottlingRateLimit:  jsii.Number(100),
	})
	apiURL := *api.ApiEndpoint()

	// --- UI content ------------------------------------------------------------
	sources := []awss3deployment.ISource{
		// The web app's RuntimeConfig (web/src/config.ts); `flotilla login`
		// reads the same file.
		awss3deployment.Source_JsonData(jsii.String("config.json"), map[string]interface{}{
			"api_base_url": apiURL,
			"auth": map[string]interface{}{
				"region":       region,
				"user_pool_id": *userPool.UserPoolId(),
				"client_id":    *client.UserPoolClientId(),
				"domain":       *userPoolDomain.BaseUrl(nil),
				"redirect_uri": uiURL + "/",
			},
		}, nil),
	}
	if st, err := os.Stat(props.WebDist); err == nil && st.IsDir() {
		// Without the local config.json of web/public: the generated one
		// above is the deployed UI's.
		sources = append(sources, awss3deployment.Source_Asset(jsii.String(props.WebDist),
			&awss3assets.AssetOptions{Exclude: jsii.Strings("config.json")}))
	} else {
		awscdk.Annotations_Of(stack).AddWarningV2(jsii.String("flotilla:web-dist-missing"),
			jsii.String("the web UI is not built ("+props.WebDist+" is missing): deploying a placeholder page; run the UI build before deploying"), nil)
		sources = append(sources, awss3deployment.Source_Data(jsii.String("index.html"),
			jsii.String("<!doctype html><title>Flotilla</title><p>The Flotilla UI was not built when this stack was deployed.</p>"), nil))
	}
	awss3deployment.NewBucketDeployment(stack, jsii.String("UiDeployment"), &awss3deployment.BucketDeploymentProps{
		DestinationBucket: uiBucket,
		Sources:           &sources,
		Distribution:      distribution,
		DistributionPaths: jsii.Strings("/*"),
	})

	awscdk.NewCfnOutput(stack, jsii.String("ApiUrl"), &awscdk.CfnOutputProps{Value: jsii.String(apiURL), Description: jsii.String("FLOTILLA_URL for the CLI")})
	awscdk.NewCfnOutput(stack, jsii.String("UiUrl"), &awscdk.CfnOutputProps{Value: jsii.String(uiURL), Description: jsii.String("The web UI")})
	awscdk.NewCfnOutput(stack, jsii.String("TableName"), &awscdk.CfnOutputProps{Value: s.Table.TableName(), Description: jsii.String("The DynamoDB table (flotilla migrate --to)")})
	awscdk.NewCfnOutput(stack, jsii.String("UserPoolId"), &awscdk.CfnOutputProps{Value: userPool.UserPoolId()})
	awscdk.NewCfnOutput(stack, jsii.String("UserPoolClientId"), &awscdk.CfnOutputProps{Value: client.UserPoolClientId()})
	awscdk.NewCfnOutput(stack, jsii.String("AuthDomain"), &awscdk.CfnOutputProps{Value: userPoolDomain.BaseUrl(nil)})

	nt := nagTargets{execRole: execRole, vpc: vpc, userPool: userPool, uiBucket: uiBucket, distribution: distribution, eventsDLQ: eventsDLQ}
	for _, r := range *healthRoutes {
		nt.publicRoutes = append(nt.publicRoutes, r)
	}
	for _, f := range functions {
		nt.functions = append(nt.functions, nagFunction{fn: f, role: s.Functions[f.Name].Role()})
	}
	for _, cr := range clusters {
		if cr.ecs != nil {
			nt.ecsClusters = append(nt.ecsClusters, cr.ecs)
		}
	}
	addNagSuppressions(stack, nt)
	return s
}

// grantTargets is what grant scopes permissions to.
type grantTargets struct {
	paused                            bool // the queue mappings are off
	arn                               func(service, resource string) string
	table                             awsdynamodb.Table
	clusters                          []*clusterResources
	jobLogs                           awslogs.LogGroup
	execRole, taskRole, schedulerRole awsiam.Role
	familyPrefix                      string // of the task definition families the executors register
	jobRoles                          string // the ARN pattern of the roles definitions may run as
	secretsPrefix                     string // of the stage's job secrets and webhook keys
	notifyFrom                        string // the SES sender of notification e-mail, if any
	scheduleGroup                     string
}

// grant turns one access entry into IAM statements on fn's role.
func grant(stack awscdk.Stack, fn awslambda.Function, a access, t grantTargets) {
	if a.Notify {
		fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:     jsii.String("WebhookSigningKeys"),
			Actions: jsii.Strings("ssm:GetParameter", "secretsmanager:GetSecretValue"),
			Resources: jsii.Strings(t.arn("ssm", "parameter/"+t.secretsPrefix+"*"),
				t.arn("secretsmanager", "secret:"+t.secretsPrefix+"*")),
		}))
		if from := t.notifyFrom; from != "" {
			// SES authorizes SendEmail on the sender's identity: the
			// address, or its domain when only the domain is verified.
			_, domain, _ := strings.Cut(from, "@")
			fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:       jsii.String("SendNotificationEmail"),
				Actions:   jsii.Strings("ses:SendEmail"),
				Resources: jsii.Strings(t.arn("ses", "identity/"+from), t.arn("ses", "identity/"+domain)),
			}))
		}
	}
	if a.PublishRunChanges {
		// Conditions on what is published (Service Authorization Reference
		// for Amazon EventBridge: PutEvents on event-bus, condition keys
		// events:source and events:detail-type, both ArrayOfString: one value
		// per entry of the call). Multivalued keys need a set operator, and
		// ForAllValues holds for a missing key too, hence the Null checks
		// (IAM User Guide, "Single-valued vs. multivalued context keys").
		fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("PublishRunChanges"),
			Actions:   jsii.Strings("events:PutEvents"),
			Resources: jsii.Strings(t.arn("events", "event-bus/default")),
			Conditions: &map[string]interface{}{
				"ForAllValues:StringEquals": map[string]interface{}{"events:source": runChangeSource, "events:detail-type": runChangeDetailType},
				"Null":                      map[string]interface{}{"events:source": "false", "events:detail-type": "false"},
			},
		}))
	}
	if a.TableReadWrite {
		// Not Table.GrantReadWriteData: that grants <table>/index/*; this
		// names the table and each index of tableIndexes.
		resources := []*string{t.table.TableArn()}
		for _, ix := range tableIndexes {
			resources = append(resources, jsii.String(*t.table.TableArn()+"/index/"+ix.Name))
		}
		fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("TableReadWrite"),
			Actions:   jsii.Strings(tableActions...),
			Resources: &resources,
		}))
	}
	for _, cr := range t.clusters {
		if a.SendToQueues {
			cr.queue.GrantSendMessages(fn)
		}
		if a.ConsumeQueue {
			// Off while paused: a throttled function's mapping would still
			// receive messages and hand them back, counting receives toward
			// the dead-letter queue (Lambda Developer Guide, "Configuring
			// scaling behavior for SQS event source mappings"); off, they
			// wait in the queue.
			fn.AddEventSource(awslambdaeventsources.NewSqsEventSource(cr.queue, &awslambdaeventsources.SqsEventSourceProps{
				BatchSize:               jsii.Number(10),
				ReportBatchItemFailures: jsii.Bool(true),
				Enabled:                 jsii.Bool(!t.paused),
			}))
		}
	}
	if a.ReadJobLogs {
		t.jobLogs.GrantRead(fn)
	}
	var clusterARNs, taskARNs []string
	for _, cr := range t.clusters {
		clusterARNs = append(clusterARNs, cr.arn)
		taskARNs = append(taskARNs, t.arn("ecs", "task/"+cr.name+"/*"))
	}
	onClusters := &map[string]interface{}{"ArnEquals": map[string]interface{}{"ecs:cluster": clusterARNs}}
	taskDefs := t.arn("ecs", "task-definition/"+t.familyPrefix+"*")
	var taskActions []string
	for _, act := range a.ECS {
		switch act {
		case ecsRunTask:
			fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:        jsii.String("RunFlotillaTasks"),
				Actions:    jsii.Strings(string(ecsRunTask)),
				Resources:  jsii.Strings(taskDefs),
				Conditions: onClusters,
			}))
		case ecsStopTask, ecsDescribeTasks:
			taskActions = append(taskActions, string(act))
		case ecsListTasks:
			fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:        jsii.String("ListFlotillaTasks"),
				Actions:    jsii.Strings(string(ecsListTasks)),
				Resources:  jsii.Strings("*"), // see ecsListTasks: scoped by the condition
				Conditions: onClusters,
			}))
		default:
			panic("grant: unknown ECS action " + string(act))
		}
	}
	if len(taskActions) > 0 {
		fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("FlotillaTasks"),
			Actions:    jsii.Strings(taskActions...),
			Resources:  jsii.Strings(taskARNs...),
			Conditions: onClusters,
		}))
	}
	if a.TaskDefinitions {
		fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("RegisterTaskDefinitions"),
			Actions:   jsii.Strings("ecs:RegisterTaskDefinition", "ecs:DescribeTaskDefinition"),
			Resources: jsii.Strings("*"), // ECS supports no resource-level permissions for these two
		}))
		fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("TagOnCreate"),
			Actions:   jsii.Strings("ecs:TagResource"),
			Resources: jsii.Strings(append([]string{taskDefs}, taskARNs...)...),
			Conditions: &map[string]interface{}{
				"StringEquals": map[string]interface{}{"ecs:CreateAction": []string{"RunTask", "RegisterTaskDefinition"}},
			},
		}))
		fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:     jsii.String("PassTaskRoles"),
			Actions: jsii.Strings("iam:PassRole"),
			// The two stack roles, and the roles definitions name
			// (task_role_arn) whose name starts with the job role prefix,
			// at the root path (role/<prefix>*: a wildcard before the
			// prefix would also match names that merely contain it); only
			// to ECS tasks.
			Resources: &[]*string{t.execRole.RoleArn(), t.taskRole.RoleArn(), jsii.String(t.jobRoles)},
			Conditions: &map[string]interface{}{
				"StringEquals": map[string]interface{}{"iam:PassedToService": "ecs-tasks.amazonaws.com"},
			},
		}))
	}
	if a.ManageSchedules {
		fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("ManageSchedules"),
			Actions:   jsii.Strings("scheduler:CreateSchedule", "scheduler:UpdateSchedule", "scheduler:DeleteSchedule", "scheduler:GetSchedule"),
			Resources: jsii.Strings(t.arn("scheduler", "schedule/"+t.scheduleGroup+"/*")),
		}))
		fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("PassSchedulerRole"),
			Actions:   jsii.Strings("iam:PassRole"),
			Resources: &[]*string{t.schedulerRole.RoleArn()},
			Conditions: &map[string]interface{}{
				"StringEquals": map[string]interface{}{"iam:PassedToService": "scheduler.amazonaws.com"},
			},
		}))
	}
}

// tableActions is read/write item access; transactions need no actions of their own.
var tableActions = []string{
	"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:ConditionCheckItem",
	"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:DescribeTable",
}

// queueName is a cluster queue's name: <prefix>-<cluster><suffix>.fifo.
func queueName(prefix, cluster, suffix string) string {
	return prefix + "-" + cluster + suffix + ".fifo"
}

// sharedSubnets are the subnets of the clusters the stack creates (one VPC).
func sharedSubnets(clusters []*clusterResources) []string {
	for _, cr := range clusters {
		if !cr.cfg.Existing() {
			return cr.subnets
		}
	}
	return nil
}

func ecsTasksPrincipal() awsiam.IPrincipal {
	return awsiam.NewServicePrincipal(jsii.String("ecs-tasks.amazonaws.com"), nil)
}

func functionByName(name string) function {
	for _, f := range functions {
		if f.Name == name {
			return f
		}
	}
	panic("no function " + name)
}
