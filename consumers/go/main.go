// A Go CDK app that uses cdk-lakehouse the way a Go user would: from the Go module jsii-pacmak
// builds (dist/go), with aws-cdk-go from the Go module proxy. consumers/run.js synthesizes it and
// compares its template with the TypeScript twin (consumers/app.ts).
package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdk-lakehouse/cdk-lakehouse-go/cdklakehouse"
)

func main() {
	defer jsii.Close()

	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Consumer"), nil)
	lake := cdklakehouse.NewLakehouseTier(stack, jsii.String("Lake"), &cdklakehouse.LakehouseTierProps{
		LakeName: jsii.String("analytics"),
	})
	lake.AddIcebergTable(jsii.String("Events"), &cdklakehouse.IcebergTableOptions{
		TableName: jsii.String("events"),
		Columns: &[]*cdklakehouse.Column{
			{Name: jsii.String("event_id"), Type: jsii.String("string")},
			{Name: jsii.String("payload"), Type: jsii.String("string")},
		},
	})
	cdklakehouse.NewAthenaServing(stack, jsii.String("Sql"), &cdklakehouse.AthenaServingProps{
		Lake:          lake,
		WorkGroupName: jsii.String("analysts"),
	})
	app.Synth(nil)
}
