// Command infra synthesizes the Flotilla CDK app. Run it through the CDK CLI
// from the repository root (cdk.json): `make synth`, `make deploy`.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

func main() {
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	props, err := PropsFromContext(app)
	if err != nil {
		fmt.Fprintln(os.Stderr, "flotilla infra:", err)
		os.Exit(2)
	}
	for _, f := range functions {
		if _, err := os.Stat(filepath.Join(props.LambdasDir, f.Name, "bootstrap")); err != nil {
			fmt.Fprintf(os.Stderr, "flotilla infra: the %s function is not built (%v): run `make lambdas` (make synth, deploy, cdk-bootstrap and destroy do)\n", f.Name, err)
			os.Exit(2)
		}
	}
	NewStack(app, StackName(props.Stage), props)
	// cdk-nag findings fail `cdk synth` (the CI gate); suppressions live in nag.go.
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	app.Synth(nil)
}
