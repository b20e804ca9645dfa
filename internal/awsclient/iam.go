package awsclient

import (
	"strings"
)

// IAMRequest is one authorization IAM makes for an AWS call: the action,
// the resource ARN it is evaluated on and the condition keys the service
// supplies. One call can cause several (a transaction authorizes each of
// its items; RunTask also passes roles and tags the task it creates).
type IAMRequest struct {
	Action   string            `json:"action"`
	Resource string            `json:"resource"`
	Context  map[string]string `json:"context,omitempty"`
}

// The canonical deployment the recordings speak of: every ARN is in this
// account and Region, and each resource of the stack is named by its
// construct id in infra/stack.go (the infra test resolves the synthesized
// template to the same names). A process knows its own names (Names) and
// rewrites them to these.
const (
	CanonicalAccount = "123456789012"
	CanonicalRegion  = "us-east-1"
	// CanonicalFamilyPrefix is the task definition family prefix of the
	// stage the infra tests synthesize (prod).
	CanonicalFamilyPrefix = "flotilla-prod-"
	// CanonicalSecretsPrefix is the secrets prefix of the same stage.
	CanonicalSecretsPrefix = "flotilla/prod/"
	// CanonicalJobRolePrefix is its job role prefix.
	CanonicalJobRolePrefix = "flotilla-job-prod-"
)

func canonicalARN(service, resource string) string {
	return "arn:aws:" + service + ":" + CanonicalRegion + ":" + CanonicalAccount + ":" + resource
}

// Canonical names of the stack's resources (construct ids of infra/stack.go).
func (n Names) table(name string) string {
	if name == n.Table {
		return "TableV2"
	}
	return name
}

func (n Names) queue(name string) string {
	if c, ok := n.Queues[name]; ok {
		return "Queue-" + c + ".fifo"
	}
	return name
}

func (n Names) cluster(nameOrARN string) string {
	name := nameOrARN
	if i := strings.LastIndex(nameOrARN, ":cluster/"); i >= 0 {
		name = nameOrARN[i+len(":cluster/"):]
	}
	if name == "" {
		name = "default" // what ECS assumes when no cluster is named
	}
	if c, ok := n.ECSClusters[name]; ok {
		return "Cluster-" + c
	}
	return name
}

func (n Names) role(arn string) string {
	switch arn {
	case "":
		return ""
	case n.TaskExecutionRole:
		return "arn:aws:iam::" + CanonicalAccount + ":role/TaskExecutionRole"
	case n.TaskRole:
		return "arn:aws:iam::" + CanonicalAccount + ":role/TaskRole"
	case n.SchedulerRole:
		return "arn:aws:iam::" + CanonicalAccount + ":role/SchedulerRole"
	}
	// A definition's own role: the deployment's job role prefix, written as
	// the canonical stage's.
	if i := strings.Index(arn, ":role/"); i >= 0 && n.JobRolePrefix != "" && strings.HasPrefix(arn[i+len(":role/"):], n.JobRolePrefix) {
		return arn[:i] + ":role/" + CanonicalJobRolePrefix + strings.TrimPrefix(arn[i+len(":role/"):], n.JobRolePrefix)
	}
	return arn
}

// secret is a parameter or secret name with the deployment's secrets
// prefix written as the canonical stage's.
func (n Names) secret(name string) string {
	if n.SecretsPrefix != "" && strings.HasPrefix(name, n.SecretsPrefix) {
		return CanonicalSecretsPrefix + strings.TrimPrefix(name, n.SecretsPrefix)
	}
	return name
}

func (n Names) logGroup(name string) string {
	if name == n.LogGroup {
		return "JobLogs"
	}
	return name
}

func (n Names) scheduleGroup(name string) string {
	if name == "" {
		name = "default" // EventBridge Scheduler's default group
	}
	if name == n.ScheduleGroup {
		return "ScheduleGroup"
	}
	return name
}

// IAMRequests maps one SDK call (its service id, operation and input as
// JSON) to the IAM requests AWS evaluates for it. The sources, per service,
// are AWS's Service Authorization Reference ("Actions, resources, and
// condition keys for Amazon ECS / DynamoDB / SQS / CloudWatch Logs /
// EventBridge Scheduler") and the pages cited inline. Operations this table
// does not know are recorded as "unknown:…", which the infra test refuses:
// a new call must be added here before it can be proven.
func IAMRequests(service, op string, in map[string]any, n Names) []IAMRequest {
	s := func(k string) string { v, _ := in[k].(string); return v }
	switch service {
	case "DynamoDB":
		return dynamoRequests(op, in, n)
	case "SQS":
		// Batch calls are authorized as their single-message action: IAM has
		// no SendMessageBatch action (SQS API Reference, SendMessageBatch:
		// "permissions for SendMessage").
		action := strings.TrimSuffix(op, "Batch")
		url := s("QueueUrl")
		name := url[strings.LastIndex(url, "/")+1:]
		return []IAMRequest{{Action: "sqs:" + action, Resource: canonicalARN("sqs", n.queue(name))}}
	case "ECS":
		return ecsRequests(op, in, n)
	case "CloudWatch Logs":
		group := s("LogGroupName")
		switch op {
		case "GetLogEvents":
			return []IAMRequest{{Action: "logs:GetLogEvents",
				Resource: canonicalARN("logs", "log-group:"+n.logGroup(group)+":log-stream:"+s("LogStreamName"))}}
		default:
			// Log-group actions are evaluated on the group's ARN as
			// CloudFormation's Fn::GetAtt Arn gives it, with ":*" (the form
			// every CloudWatch Logs policy example uses).
			return []IAMRequest{{Action: "logs:" + op, Resource: canonicalARN("logs", "log-group:"+n.logGroup(group)+":*")}}
		}
	case "Cognito Identity Provider":
		pool := s("UserPoolId")
		if pool == n.UserPool {
			pool = "UserPool"
		}
		return []IAMRequest{{Action: "cognito-idp:" + op, Resource: canonicalARN("cognito-idp", "userpool/"+pool)}}
	case "SSM":
		// A SecureString under the AWS managed key aws/ssm needs no KMS
		// grant of its own (Systems Manager User Guide, "How AWS Systems
		// Manager Parameter Store uses AWS KMS").
		return []IAMRequest{{Action: "ssm:" + op, Resource: canonicalARN("ssm", "parameter/"+n.secret(strings.TrimPrefix(s("Name"), "/")))}}
	case "Secrets Manager":
		// A secret's ARN ends in a hyphen and six random characters
		// (Secrets Manager User Guide, "Secret ARNs"); a name is looked up
		// as that ARN.
		id := s("SecretId")
		if !strings.HasPrefix(id, "arn:") {
			id = canonicalARN("secretsmanager", "secret:"+n.secret(id)+"-AbCdEf")
		}
		return []IAMRequest{{Action: "secretsmanager:" + op, Resource: id}}
	case "SESv2":
		// SendEmail is authorized on the sender's identity (Service
		// Authorization Reference for Amazon SES v2: SendEmail, identity);
		// the address's own identity is used here, and the stack grants
		// the address and its domain.
		return []IAMRequest{{Action: "ses:" + op, Resource: canonicalARN("ses", "identity/"+s("FromEmailAddress"))}}
	case "EventBridge":
		// PutEvents is authorized per entry on its bus, with the entry's
		// source and detail-type as condition keys (Service Authorization
		// Reference for Amazon EventBridge: PutEvents, event-bus,
		// events:source, events:detail-type).
		entries, _ := in["Entries"].([]any)
		var out []IAMRequest
		for _, e := range entries {
			m, _ := e.(map[string]any)
			bus, _ := m["EventBusName"].(string)
			if bus == "" {
				bus = "default"
			}
			src, _ := m["Source"].(string)
			dt, _ := m["DetailType"].(string)
			out = append(out, IAMRequest{Action: "events:" + op, Resource: canonicalARN("events", "event-bus/"+bus),
				Context: map[string]string{"events:source": src, "events:detail-type": dt}})
		}
		return out
	case "Scheduler":
		out := []IAMRequest{{Action: "scheduler:" + op,
			Resource: canonicalARN("scheduler", "schedule/"+n.scheduleGroup(s("GroupName"))+"/"+s("Name"))}}
		if target, ok := in["Target"].(map[string]any); ok {
			if role, _ := target["RoleArn"].(string); role != "" {
				// EventBridge Scheduler User Guide, "Set up the execution
				// role": the caller needs iam:PassRole on the schedule's role.
				out = append(out, passRole(n.role(role), "scheduler.amazonaws.com"))
			}
		}
		return out
	}
	return []IAMRequest{{Action: "unknown:" + service + "." + op, Resource: "*"}}
}

func dynamoRequests(op string, in map[string]any, n Names) []IAMRequest {
	tableARN := func(table, index string) string {
		r := "table/" + n.table(table)
		if index != "" {
			r += "/index/" + index
		}
		return canonicalARN("dynamodb", r)
	}
	str := func(m map[string]any, k string) string { v, _ := m[k].(string); return v }
	switch op {
	case "BatchGetItem", "BatchWriteItem":
		items, _ := in["RequestItems"].(map[string]any)
		var out []IAMRequest
		for table := range items {
			out = append(out, IAMRequest{Action: "dynamodb:" + op, Resource: tableARN(table, "")})
		}
		return out
	case "TransactWriteItems", "TransactGetItems":
		// A transaction is authorized item by item, as the action each item
		// performs (DynamoDB Developer Guide, "Using IAM with DynamoDB
		// transactions").
		items, _ := in["TransactItems"].([]any)
		var out []IAMRequest
		for _, it := range items {
			m, _ := it.(map[string]any)
			for kind, action := range map[string]string{
				"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem", "Get": "GetItem",
			} {
				if sub, ok := m[kind].(map[string]any); ok {
					out = append(out, IAMRequest{Action: "dynamodb:" + action, Resource: tableARN(str(sub, "TableName"), "")})
				}
			}
		}
		return out
	default:
		return []IAMRequest{{Action: "dynamodb:" + op, Resource: tableARN(str(in, "TableName"), str(in, "IndexName"))}}
	}
}

func ecsRequests(op string, in map[string]any, n Names) []IAMRequest {
	s := func(k string) string { v, _ := in[k].(string); return v }
	cluster := n.cluster(s("Cluster"))
	clusterARN := canonicalARN("ecs", "cluster/"+cluster)
	onCluster := map[string]string{"ecs:cluster": clusterARN}
	taskARN := func(idOrARN string) string {
		id := idOrARN[strings.LastIndex(idOrARN, "/")+1:]
		return canonicalARN("ecs", "task/"+cluster+"/"+id)
	}
	taskDefARN := func(ref string) string {
		if i := strings.Index(ref, ":task-definition/"); i >= 0 {
			ref = ref[i+len(":task-definition/"):]
		}
		if n.FamilyPrefix != "" && strings.HasPrefix(ref, n.FamilyPrefix) {
			ref = CanonicalFamilyPrefix + strings.TrimPrefix(ref, n.FamilyPrefix)
		}
		if !strings.Contains(ref, ":") {
			ref += ":*" // the latest (or a new) revision of the family
		}
		return canonicalARN("ecs", "task-definition/"+ref)
	}
	hasTags := func() bool { tags, _ := in["Tags"].([]any); return len(tags) > 0 }
	switch op {
	case "RunTask":
		out := []IAMRequest{{Action: "ecs:RunTask", Resource: taskDefARN(s("TaskDefinition")), Context: onCluster}}
		// Running a task passes its task definition's roles (ECS Developer
		// Guide, "Task IAM role" and "Task execution IAM role": the caller
		// needs iam:PassRole on them), and any role the overrides name. The
		// definition is not in the input: its roles are those this process
		// registered it with, or else (a definition another process
		// registered) the roles this process registers definitions with.
		ref := s("TaskDefinition")
		if i := strings.Index(ref, ":task-definition/"); i >= 0 {
			ref = ref[i+len(":task-definition/"):]
		}
		family, _, _ := strings.Cut(ref, ":")
		roles, known := n.TaskDefinitionRoles[family]
		if !known {
			roles = []string{n.TaskExecutionRole, n.TaskRole}
		}
		if o, ok := in["Overrides"].(map[string]any); ok {
			for _, k := range []string{"ExecutionRoleArn", "TaskRoleArn"} {
				if v, _ := o[k].(string); v != "" {
					roles = append(roles, v)
				}
			}
		}
		for _, r := range roles {
			if r != "" {
				out = append(out, passRole(n.role(r), "ecs-tasks.amazonaws.com"))
			}
		}
		if hasTags() {
			// Tags given at creation need ecs:TagResource with
			// ecs:CreateAction (ECS Developer Guide, "Grant permission to tag
			// resources on creation").
			out = append(out, IAMRequest{Action: "ecs:TagResource", Resource: canonicalARN("ecs", "task/"+cluster+"/*"),
				Context: map[string]string{"ecs:CreateAction": "RunTask"}})
		}
		return out
	case "StopTask":
		return []IAMRequest{{Action: "ecs:StopTask", Resource: taskARN(s("Task")), Context: onCluster}}
	case "DescribeTasks":
		tasks, _ := in["Tasks"].([]any)
		out := make([]IAMRequest, 0, len(tasks))
		for _, t := range tasks {
			id, _ := t.(string)
			out = append(out, IAMRequest{Action: "ecs:DescribeTasks", Resource: taskARN(id), Context: onCluster})
		}
		return out
	case "ListTasks":
		// A ListTasks call names no container instance (on Fargate there is
		// none), so IAM sees no resource ARN: AWS's identity-based policy
		// example for listing tasks grants it on "*" with ecs:cluster. The
		// proof evaluates it the same way: resource "*", the cluster in the
		// context.
		return []IAMRequest{{Action: "ecs:ListTasks", Resource: "*", Context: onCluster}}
	case "RegisterTaskDefinition":
		out := []IAMRequest{{Action: "ecs:RegisterTaskDefinition", Resource: taskDefARN(s("Family"))}}
		for _, k := range []string{"ExecutionRoleArn", "TaskRoleArn"} {
			if r := s(k); r != "" {
				out = append(out, passRole(n.role(r), "ecs-tasks.amazonaws.com"))
			}
		}
		if hasTags() {
			out = append(out, IAMRequest{Action: "ecs:TagResource", Resource: taskDefARN(s("Family")),
				Context: map[string]string{"ecs:CreateAction": "RegisterTaskDefinition"}})
		}
		return out
	case "DescribeTaskDefinition":
		// No resource-level permissions (Service Authorization Reference).
		return []IAMRequest{{Action: "ecs:DescribeTaskDefinition", Resource: "*"}}
	}
	return []IAMRequest{{Action: "unknown:ECS." + op, Resource: "*"}}
}

func passRole(roleARN, service string) IAMRequest {
	return IAMRequest{Action: "iam:PassRole", Resource: roleARN, Context: map[string]string{"iam:PassedToService": service}}
}
