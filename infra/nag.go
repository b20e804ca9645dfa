package main

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfront"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// nagTargets are the constructs that carry accepted cdk-nag findings.
type nagTargets struct {
	execRole     awsiam.Role
	functions    []nagFunction
	vpc          awsec2.Vpc // nil when every cluster already exists
	ecsClusters  []awsecs.Cluster
	userPool     awscognito.UserPool
	uiBucket     awss3.Bucket
	distribution awscloudfront.Distribution
	publicRoutes []awsapigatewayv2.HttpRoute
	eventsDLQ    awssqs.Queue
}

type nagFunction struct {
	fn   function
	role awsiam.IRole
}

// addNagSuppressions records, each with its reason, the cdk-nag AwsSolutions
// findings this stack accepts; they are attached to the one construct that
// causes them, and wildcard findings name the exact resource (appliesTo).
// Any other finding fails `cdk synth` and the tests.
func addNagSuppressions(stack awscdk.Stack, t nagTargets) {
	on := func(c constructs.IConstruct, sups ...*cdknag.NagPackSuppression) {
		cdknag.NagSuppressions_AddResourceSuppressions(c, &sups, jsii.Bool(true))
	}
	sup := func(id, reason string, appliesTo ...any) *cdknag.NagPackSuppression {
		s := &cdknag.NagPackSuppression{Id: jsii.String(id), Reason: jsii.String(reason)}
		if len(appliesTo) > 0 {
			s.AppliesTo = &appliesTo
		}
		return s
	}
	re := func(pattern string) any { return &cdknag.RegexAppliesTo{Regex: jsii.String(pattern)} }

	on(t.execRole,
		sup("AwsSolutions-IAM5", "ecr:GetAuthorizationToken has no resource-level permissions (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelasticcontainerregistry.html).",
			"Resource::*"),
		sup("AwsSolutions-IAM5", "Job images may come from any ECR repository of this account; pulls are read-only and limited to this account and region.",
			re(`/^Resource::arn:<AWS::Partition>:ecr:<AWS::Region>:<AWS::AccountId>:repository\/\*$/`)),
		sup("AwsSolutions-IAM5", "Definitions may reference secrets that ECS injects; only names under the stage's flotilla/<stage>/ prefix are readable.",
			re(`/^Resource::arn:<AWS::Partition>:(ssm|secretsmanager):<AWS::Region>:<AWS::AccountId>:(parameter\/|secret:)flotilla\/[a-z0-9]+\/\*$/`)),
	)

	for _, f := range t.functions {
		var sups []*cdknag.NagPackSuppression
		if len(f.fn.Access.ECS) > 0 {
			sups = append(sups, sup("AwsSolutions-IAM5",
				"ECS task ids are made by RunTask at run time; access is limited to tasks of Flotilla's clusters (task/<cluster>/*, plus the ecs:cluster condition).",
				re(`/^Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task\/.+\/\*$/`)),
				sup("AwsSolutions-IAM5", "ecs:ListTasks names no task or container instance, so it is granted on * (AWS's ECS identity-based policy example for listing tasks) and limited to Flotilla's clusters by the ecs:cluster condition.",
					"Resource::*"))
		}
		if f.fn.Access.TaskDefinitions {
			sups = append(sups,
				sup("AwsSolutions-IAM5", "ecs:RegisterTaskDefinition and ecs:DescribeTaskDefinition have no resource-level permissions (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelasticcontainerservice.html); PassRole stays limited to the two task roles.",
					"Resource::*"),
				sup("AwsSolutions-IAM5", "One task definition revision is registered per definition revision at run time; only families with this stage's flotilla-<stage>- prefix can be run or tagged.",
					re(`/^Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task-definition\/flotilla-[a-z0-9]+-\*$/`)),
				sup("AwsSolutions-IAM5", "Definitions may run as their own IAM role (task_role_arn); only roles at the root path whose name starts with the job role prefix (cdk.json flotilla:job_role_prefix) can be passed, and only to ECS tasks (iam:PassedToService).",
					re(`/^Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:role\/[\w+=,.@-]+\*$/`)))
		}
		if f.fn.Access.Notify {
			sups = append(sups, sup("AwsSolutions-IAM5", "Webhook signing keys are named by definitions at run time; only SSM parameters and Secrets Manager secrets under the stage's flotilla/<stage>/ prefix are readable.",
				re(`/^Resource::arn:<AWS::Partition>:(ssm|secretsmanager):<AWS::Region>:<AWS::AccountId>:(parameter\/|secret:)flotilla\/[a-z0-9]+\/\*$/`)))
		}
		if f.fn.Access.ManageSchedules {
			sups = append(sups, sup("AwsSolutions-IAM5", "One EventBridge Scheduler schedule is created per Flotilla schedule at run time; only schedules in this stack's group are reachable.",
				re(`/^Resource::arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:schedule\/<ScheduleGroup>\/\*$/`)))
		}
		if len(sups) > 0 {
			on(f.role, sups...)
		}
	}

	if t.vpc != nil {
		on(t.vpc, sup("AwsSolutions-VPC7", "The VPC only gives Fargate jobs a public IP for egress (no NAT, no ingress); flow logs would bill per GB of every image pull. Enable them if your jobs need network auditing."))
	}
	for _, c := range t.ecsClusters {
		on(c, sup("AwsSolutions-ECS4", "Container Insights bills per task metric; run status, exit codes and logs are recorded by Flotilla itself. Enable it on the cluster if needed."))
	}

	on(t.userPool,
		sup("AwsSolutions-COG2", "MFA is optional (TOTP offered) so a team can adopt Flotilla without an enrolment step; set the user pool to MFA required for stricter teams."),
		sup("AwsSolutions-COG8", "The Plus feature plan (threat protection) is billed per active user; the user pool is invite-only (no self sign-up)."),
	)
	on(t.eventsDLQ, sup("AwsSolutions-SQS3", "This queue is itself a dead-letter queue: EventBridge puts the events the events and sweep functions could not take here."))
	on(t.uiBucket, sup("AwsSolutions-S1", "The bucket holds only the built static UI, written by the deployment; reads go through CloudFront (origin access control)."))
	on(t.distribution,
		sup("AwsSolutions-CFR1", "The UI is a static app for signed-in users of one organisation; no geographic restriction is needed."),
		sup("AwsSolutions-CFR2", "The distribution serves static files only; the API it calls checks a JWT on every route. WAF would add a fixed monthly cost."),
		sup("AwsSolutions-CFR3", "Access logs of static UI files add storage cost without audit value; API calls are logged by the HTTP API's access log."),
		sup("AwsSolutions-CFR4", "The distribution uses the default *.cloudfront.net certificate, whose TLS policy cannot be chosen; use a custom domain and certificate to set TLSv1.2_2021."),
	)
	for _, r := range t.publicRoutes {
		on(r, sup("AwsSolutions-APIG4", "GET /v1/health is the unauthenticated liveness probe; it returns {\"status\":\"ok\"} and nothing else. Every other route has the JWT authorizer (tested)."))
	}

	// The BucketDeployment's singleton handler, made by aws-cdk-lib.
	for _, c := range *stack.Node().Children() {
		if strings.HasPrefix(*c.Node().Id(), "Custom::CDKBucketDeployment") {
			on(c,
				sup("AwsSolutions-IAM4", "aws-cdk-lib's BucketDeployment handler uses AWSLambdaBasicExecutionRole for its own logs.",
					"Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"),
				sup("AwsSolutions-IAM5", "aws-cdk-lib's BucketDeployment handler copies the UI asset from the CDK assets bucket into the UI bucket; its grants are limited to those two buckets."),
				sup("AwsSolutions-L1", "The runtime of aws-cdk-lib's BucketDeployment handler is chosen by aws-cdk-lib and moves with its version."),
			)
		}
	}
}
