package main

import (
	"slices"
	"strings"
	"testing"
)

// specReport is what proof/cfnspec.mjs says of a template.
type specReport struct {
	Resources  int      `json:"resources"`
	Checked    int      `json:"checked"`
	Intrinsics int      `json:"intrinsics"`
	Enums      int      `json:"enums"`
	EnumPaths  []string `json:"enumPaths"`
	Violations []string `json:"violations"`
}

// checkSpec runs CloudFormation's resource specification over a template.
func checkSpec(t *testing.T, tp tmpl) specReport {
	t.Helper()
	var r specReport
	runProof(t, "cfnspec.mjs", "@aws-cdk/aws-service-spec", tp, &r)
	return r
}

// TestTemplateFitsCloudFormationsSpecification: every resource of the
// synthesized template is a real type with real, well-typed properties and
// all its required ones (the specification aws-cdk-lib is generated from).
func TestTemplateFitsCloudFormationsSpecification(t *testing.T) {
	r := checkSpec(t, synthesized.template)
	for _, v := range r.Violations {
		t.Error(v)
	}
	t.Logf("%d resources, %d values checked, %d intrinsic values left to deploy time", r.Resources, r.Checked, r.Intrinsics)
	slices.Sort(r.EnumPaths)
	r.EnumPaths = slices.Compact(r.EnumPaths)
	t.Logf("checked against an enumeration: %v", r.EnumPaths)
	if len(r.EnumPaths) < 3 {
		t.Errorf("only %d values checked against an enumeration", len(r.EnumPaths))
	}
	if r.Checked < 500 {
		t.Errorf("only %d values checked: the check reads too little", r.Checked)
	}

	// The same check on a broken copy must fail, once per kind of fault.
	broken := synthesized.template.clone()
	q := broken.ofType("AWS::SQS::Queue")[0]
	broken.Resources[q].Properties["MessageRetentionPeriod"] = "two weeks"
	broken.Resources[q].Properties["FifoQueueX"] = true
	fn := broken.functionID("api")
	delete(broken.Resources[fn].Properties, "Code")
	rule := broken.ofType("AWS::Events::Rule")[0]
	broken.Resources[rule].Properties["Targets"] = map[string]any{"Arn": "x"}
	broken.Resources["Bogus"] = resource{Type: "AWS::SQS::Queuee"}
	broken.Resources[rule].Properties["State"] = "PAUSED"
	got := strings.Join(checkSpec(t, broken).Violations, "\n")
	for _, want := range []string{q + ".MessageRetentionPeriod: want an integer", q + ".FifoQueueX: no such property",
		fn + ".Code: required, missing", rule + ".Targets: want a list", "Bogus: no resource type",
		rule + `.State: "PAUSED" is not one of`} {
		if !strings.Contains(got, want) {
			t.Errorf("the check missed %q; it said:\n%s", want, got)
		}
	}
}
